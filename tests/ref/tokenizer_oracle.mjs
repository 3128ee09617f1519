// Tokenizer oracle: encodes a corpus with @lenml/tokenizers (transformers.js) and prints
//   {"model", "tokenizer_json", "tokenizer_config", "texts": [...], "ids": [[...], ...], "nfc": [...]}
// Usage: node tokenizer_oracle.mjs <qwen3|llama3|deepseek_v3|gptoss> [corpus.json]
//   corpus.json: a JSON array of strings; default is the builtin corpus below.
// Encoding uses add_special_tokens:false (no BOS/EOS); added/special tokens in the text are parsed.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";

import { BASE_TEXTS, randomTexts } from "./corpus.mjs";

const require = createRequire(import.meta.url);
const MODELS = ["qwen3", "llama3", "deepseek_v3", "gptoss"];

const model = process.argv[2];
if (!MODELS.includes(model)) {
  console.error(`usage: node tokenizer_oracle.mjs <${MODELS.join("|")}> [corpus.json]`);
  process.exit(2);
}
const jsonPath = require.resolve(`@lenml/tokenizer-${model}/models/tokenizer.json`);
const configPath = require.resolve(`@lenml/tokenizer-${model}/models/tokenizer_config.json`);
const tokenizerJSON = JSON.parse(readFileSync(jsonPath, "utf8"));
const tokenizerConfig = JSON.parse(readFileSync(configPath, "utf8"));
const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });

function builtinCorpus() {
  const texts = [...BASE_TEXTS];
  // Real-world text: chat templates and slices of this library's own source (code, indentation).
  if (typeof tokenizerConfig.chat_template === "string") texts.push(tokenizerConfig.chat_template);
  const src = readFileSync(
    join(dirname(require.resolve("@lenml/tokenizers")), "..", "src", "tokenizers", "tokenizers.js"), "utf8");
  for (let i = 0; i < 6; ++i) texts.push(src.slice(20000 * i + 1000, 20000 * i + 4000));
  texts.push(...randomTexts());
  return texts;
}

const texts = process.argv[3] ? JSON.parse(readFileSync(process.argv[3], "utf8")) : builtinCorpus();
const ids = texts.map((t) => tok.encode(t, { add_special_tokens: false }));
process.stdout.write(
  JSON.stringify({
    model, tokenizer_json: jsonPath, tokenizer_config: configPath, texts, ids,
    nfc: texts.map((t) => t.normalize("NFC")),  // what decode(encode(t)) gives under an NFC normalizer
  }) + "\n"
);
