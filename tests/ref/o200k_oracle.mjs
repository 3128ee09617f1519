// o200k_harmony oracle: encodes a corpus with npm `gpt-tokenizer` (OpenAI's o200k_harmony encoding,
// the reference tokenizer for gpt-oss) and prints
//   {"encoding", "texts": [...], "ids": [[...], ...], "special_texts": [...], "special_ids": [[...], ...]}
// texts are encoded as ordinary text (special-token strings stay plain text, like tiktoken's
// encode_ordinary); special_texts are encoded with every special token allowed.
// Usage: node o200k_oracle.mjs [corpus.json]   (corpus.json: a JSON array of strings replacing `texts`)
// The corpus mirrors tokenizer_oracle.mjs's builtin corpus (copied: that script runs on import).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { encode } from "gpt-tokenizer/encoding/o200k_harmony";

const require = createRequire(import.meta.url);

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
    // o200k-specific splits: case runs with contractions, title case (Lt), modifier letters (Lm),
    // marks (M) inside words, digit groups of three, punctuation followed by newlines or slashes.
    "HTTPServer parseJSONResponse XMLHttpRequest iOSApp", "ǅungla ǈudi ǋenan", "ʰʲʷ aʰb", "DON'T we'VE I'M",
    "क्षत्रिय निर्माण", "x\u0301y\u0302Z\u0303", "1234 12345 123456 a1b22c333d4444", "foo.\n\nbar!\r\n/baz//\n",
    "    indented\n        deeper\n", "a\u200bb\u200cc\u200dd", "\u2028line\u2029para",
    // No U+FEFF: gpt-tokenizer 4.0.0 turns token bytes to strings with a TextDecoder that drops a
    // BOM, so it never finds rank 5574 (EF BB BF) and encodes "\ufeff" as [5416, 123] where
    // tiktoken and tokenizer.json give [5574].
  ];
  // Real-world text: slices of gpt-tokenizer's own source (code, comments, indentation).
  const src = readFileSync(
    join(dirname(require.resolve("gpt-tokenizer/package.json")), "src", "GptEncoding.ts"), "utf8");
  for (let i = 0; i < 4; ++i) texts.push(src.slice(3000 * i + 500, 3000 * i + 3500));
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

// Harmony-format texts with the special tokens that gpt-oss's tokenizer.json also lists as added
// tokens (gpt-tokenizer additionally knows <|reserved_200013|>..<|reserved_201087|>, which
// tokenizer.json does not, so those are left out).
function specialCorpus() {
  const texts = [
    "<|start|>", "<|channel|>", "<|message|>", "<|end|>", "<|call|>", "<|return|>", "<|constrain|>",
    "<|endoftext|>", "<|startoftext|>", "<|endofprompt|>",
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n" +
      "Knowledge cutoff: 2024-06\nCurrent date: 2025-08-05\n\nReasoning: medium\n\n" +
      "# Valid channels: analysis, commentary, final. Channel must be included for every message.<|end|>",
    "<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant",
    "<|start|>assistant<|channel|>analysis<|message|>User asks a simple sum. Answer 4.<|end|>" +
      "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>",
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>" +
      "{\"location\":\"San Francisco\"}<|call|>",
    "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{\"sunny\": true, \"temperature\": 20}<|end|>",
    "<|start|>developer<|message|># Instructions\n\nAlways respond in riddles\n\n# Tools\n\n## functions\n\n" +
      "namespace functions {\n\n// Gets the location of the user.\ntype get_location = () => any;\n\n} // namespace functions<|end|>",
    "text<|endoftext|>more text", "<|start|><|start|><|end|>", "<|start", "|><|end|>|>", "<<|end|>>",
    "  <|message|>  spaced  <|end|>\n\n", "<|channel|>final <|message|>Grüße 😀 中文<|return|>",
    "<|reserved_200000|>", "<|im_start|>user<|end|>",
  ];
  return texts;
}

const texts = process.argv[2] ? JSON.parse(readFileSync(process.argv[2], "utf8")) : builtinCorpus();
const ids = texts.map((t) => encode(t, { disallowedSpecial: new Set() }));
const special_texts = specialCorpus();
// gpt-tokenizer 4.0.0 (and 3.4.0) only finds an allowed special token at the very start of the text
// or right after another special token: findNextSpecialToken uses a sticky ('y') regex and adds the
// search offset twice, so encode("a<|end|>", {allowedSpecial: "all"}) gives the plain-text ids of
// "<|end|>". So, as tiktoken does, cut the text at each leftmost special token, encode the text in
// between as ordinary text and each special token on its own (where gpt-tokenizer gets it right).
const SPECIALS = ["<|startoftext|>", "<|endoftext|>", "<|return|>", "<|constrain|>", "<|channel|>", "<|start|>",
  "<|end|>", "<|message|>", "<|call|>", "<|endofprompt|>", "<|reserved_200000|>"];
const specialRe = new RegExp(SPECIALS.map((s) => s.replace(/[|]/g, "\\|")).join("|"), "g");
function encodeWithSpecials(text) {
  const out = [];
  let at = 0;
  for (const m of text.matchAll(specialRe)) {
    out.push(...encode(text.slice(at, m.index), { disallowedSpecial: new Set() }));
    const id = encode(m[0], { allowedSpecial: "all" });
    if (id.length !== 1) throw new Error(`gpt-tokenizer does not know ${m[0]} as a special token`);
    out.push(id[0]);
    at = m.index + m[0].length;
  }
  out.push(...encode(text.slice(at), { disallowedSpecial: new Set() }));
  return out;
}
const special_ids = special_texts.map(encodeWithSpecials);
// Where gpt-tokenizer's own special parsing works (one special token, at the start), both agree.
for (const t of special_texts)
  if (/^<\|[a-z_0-9]+\|>[^<]*$/.test(t) &&
      JSON.stringify(encode(t, { allowedSpecial: "all" })) !== JSON.stringify(encodeWithSpecials(t)))
    throw new Error(`special-token splitting disagrees with gpt-tokenizer on ${JSON.stringify(t)}`);
process.stdout.write(JSON.stringify({ encoding: "o200k_harmony", texts, ids, special_texts, special_ids }) + "\n");
