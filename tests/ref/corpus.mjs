// The tokenizer test corpus shared by the oracles (tokenizer_oracle.mjs, o200k_oracle.mjs):
// English, German (precomposed and decomposed), CJK, Korean, other scripts, emoji, code,
// whitespace runs, numbers, contractions, special-token text, and seeded random strings.

// Deterministic PRNG (mulberry32) for the random strings.
export function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const BASE_TEXTS = [
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

// `count` random strings over a pool of tricky characters (deterministic for a seed).
export function randomTexts(seed = 1234, count = 300) {
  const out = [];
  const pool = [
    " ", " ", " ", "  ", "\n", "\n\n", "\t", "\r\n", "a", "b", "Z", "e", "é", "e\u0301", "u\u0308", "ß", "'",
    "'s", "'LL", "'t", "0", "1", "42", "9", ".", ",", "!", "?", "-", "_", "/", "(", ")", "{", "}", "<", ">",
    "|", "$", "中", "文", "日", "ひ", "カ", "ー", "한", "я", "Ж", "ά", "ש", "ع", "न", "ि", "😀", "👍", "🏽",
    "\u200d", "🇩", "🇪", "️", "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>", "hello", "World",
    "don", "THE", "x1", "3.5", "\u00a0", "\u3000", "\u0301", "ﬁ", "Ⅻ", "½", "²", "⁴",
  ];
  const r = rng(seed);
  for (let i = 0; i < count; ++i) {
    const n = 1 + Math.floor(r() * 24);
    let s = "";
    for (let k = 0; k < n; ++k) s += pool[Math.floor(r() * pool.length)];
    out.push(s);
  }
  return out;
}
