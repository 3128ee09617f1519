// Lexer: a port of @huggingface/jinja's preprocess() + tokenize() over UTF-8 bytes, including its
// quirks (unary minus folded into numbers, "}}" inside object literals, end-of-input errors).
#include <cstring>

#include "base/status.h"
#include "serve/jinja/ast.h"
#include "serve/jinja/value.h"

namespace moecat::jinja {

namespace {

bool IsJsLineStart(const std::string& s, size_t i) {
  if (i == 0) return true;
  unsigned char p = s[i - 1];
  if (p == '\n' || p == '\r') return true;
  // U+2028 / U+2029 (E2 80 A8/A9) are line terminators for JS multiline `^`.
  return i >= 3 && (unsigned char)s[i - 3] == 0xE2 && (unsigned char)s[i - 2] == 0x80 && (p == 0xA8 || p == 0xA9);
}

std::string Preprocess(std::string_view in) {
  std::string t(in);
  if (!t.empty() && t.back() == '\n') t.pop_back();
  // lstrip_blocks: /^[ \t]*({[#%-])/gm -> "$1"
  {
    std::string o;
    o.reserve(t.size());
    for (size_t i = 0; i < t.size();) {
      if (IsJsLineStart(t, i)) {
        size_t j = i;
        while (j < t.size() && (t[j] == ' ' || t[j] == '\t')) ++j;
        if (j + 1 < t.size() && t[j] == '{' && (t[j + 1] == '#' || t[j + 1] == '%' || t[j + 1] == '-')) {
          o += t[j];
          o += t[j + 1];
          i = j + 2;
          continue;
        }
      }
      o += t[i++];
    }
    t.swap(o);
  }
  // trim_blocks: /([#%-]})\n/g -> "$1"
  {
    std::string o;
    o.reserve(t.size());
    for (size_t i = 0; i < t.size();) {
      if (i + 2 < t.size() && (t[i] == '#' || t[i] == '%' || t[i] == '-') && t[i + 1] == '}' && t[i + 2] == '\n') {
        o += t[i];
        o += '}';
        i += 3;
        continue;
      }
      o += t[i++];
    }
    t.swap(o);
  }
  // /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs: drop the tag, and the whitespace on a side
  // that carries '-'.
  if (t.find("generation") == std::string::npos) return t;
  std::string o;
  size_t last = 0;  // end of the previous match: leading whitespace may not reach before it
  for (size_t i = 0; i + 1 < t.size();) {
    if (!(t[i] == '{' && t[i + 1] == '%')) { ++i; continue; }
    size_t j = i + 2;
    bool lstrip = false, rstrip = false;
    if (j < t.size() && t[j] == '-') lstrip = true, ++j;
    while (size_t l = JsSpaceLen(t, j)) j += l;
    if (t.compare(j, 3, "end") == 0 && t.compare(j + 3, 10, "generation") == 0) j += 3;
    if (t.compare(j, 10, "generation") != 0) { ++i; continue; }
    j += 10;
    while (size_t l = JsSpaceLen(t, j)) j += l;
    if (j < t.size() && t[j] == '-') rstrip = true, ++j;
    if (t.compare(j, 2, "%}") != 0) { ++i; continue; }
    j += 2;
    // Leading whitespace run that ends at i (not before `last`).
    size_t ws_begin = i;
    while (ws_begin > last) {
      if (JsSpaceLen(t, ws_begin - 1) == 1) { --ws_begin; continue; }
      if (ws_begin >= last + 2 && JsSpaceLen(t, ws_begin - 2) == 2) { ws_begin -= 2; continue; }
      if (ws_begin >= last + 3 && JsSpaceLen(t, ws_begin - 3) == 3) { ws_begin -= 3; continue; }
      break;
    }
    size_t after_end = j;
    while (size_t l = JsSpaceLen(t, after_end)) after_end += l;
    o.append(t, last, ws_begin - last);
    if (!lstrip) o.append(t, ws_begin, i - ws_begin);
    if (!rstrip) o.append(t, j, after_end - j);
    last = i = after_end;
  }
  o.append(t, last, std::string::npos);
  return o;
}

bool IsWordCh(int c) { return c >= 0 && (std::isalnum(c) || c == '_') && c < 128; }
bool IsDigitCh(int c) { return c >= '0' && c <= '9'; }

void AppendUtf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) s += (char)cp;
  else if (cp < 0x800) { s += (char)(0xC0 | (cp >> 6)); s += (char)(0x80 | (cp & 0x3F)); }
  else { s += (char)(0xE0 | (cp >> 12)); s += (char)(0x80 | ((cp >> 6) & 0x3F)); s += (char)(0x80 | (cp & 0x3F)); }
}

struct Lexer {
  std::string src;
  size_t pos = 0;
  int line = 1;
  size_t line_pos = 0;  // position up to which `line` has been counted
  std::vector<Token> toks;
  int curly = 0;

  int at(size_t i) const { return i < src.size() ? (unsigned char)src[i] : -1; }
  int CurLine() {
    for (; line_pos < pos && line_pos < src.size(); ++line_pos) if (src[line_pos] == '\n') ++line;
    return line;
  }
  [[noreturn]] void Err(const std::string& m) { throw JinjaError{"syntax error: " + m, CurLine()}; }
  void Push(std::string v, T t) { toks.push_back(Token{std::move(v), t, CurLine()}); }
  bool Starts(const char* s) const { return src.compare(pos, std::strlen(s), s) == 0; }

  template <class P>
  std::string ConsumeWhile(P pred) {
    std::string str;
    while (pos < src.size() && pred(at(pos))) {
      if (src[pos] == '\\') {
        ++pos;
        if (pos >= src.size()) Err("Unexpected end of input");
        char e = src[pos++];
        if (e == 'x' || e == 'u') {
          size_t n = e == 'x' ? 2 : 4;
          if (pos + n > src.size()) Err("Invalid hexadecimal escape sequence");
          uint32_t v = 0;
          for (size_t k = 0; k < n; ++k) {
            int c = src[pos + k];
            if (!std::isxdigit(c)) Err("Invalid hexadecimal escape sequence");
            v = v * 16 + (std::isdigit(c) ? c - '0' : (std::tolower(c) - 'a' + 10));
          }
          AppendUtf8(str, v);
          pos += n;
          continue;
        }
        switch (e) {
          case 'n': str += '\n'; break;
          case 't': str += '\t'; break;
          case 'r': str += '\r'; break;
          case 'b': str += '\b'; break;
          case 'f': str += '\f'; break;
          case 'v': str += '\v'; break;
          case '\'': case '"': case '\\': str += e; break;
          default: Err(std::string("Unexpected escaped character: ") + e);
        }
        continue;
      }
      str += src[pos++];
      if (pos >= src.size()) Err("Unexpected end of input");
    }
    // JS quirk: predicates that accept `undefined` (word chars, string bodies) run off the end.
    if (pos >= src.size() && pred(-1)) Err("Unexpected end of input");
    return str;
  }

  void SkipSpaces() {
    while (size_t l = JsSpaceLen(src, pos)) pos += l;
  }
  void ConsumeSpacesInTag() {
    while (size_t l = JsSpaceLen(src, pos)) {
      pos += l;
      if (pos >= src.size()) Err("Unexpected end of input");
    }
  }
  void StripTrailing() {
    if (!toks.empty() && toks.back().type == T::Text) {
      toks.back().value = JsTrim(toks.back().value, false, true);
      if (toks.back().value.empty()) toks.pop_back();
    }
  }

  void Run() {
    static const std::pair<const char*, T> kTable[] = {
        {"{%", T::OStmt}, {"%}", T::CStmt}, {"{{", T::OExpr}, {"}}", T::CExpr}, {"(", T::OParen}, {")", T::CParen},
        {"{", T::OCurly}, {"}", T::CCurly}, {"[", T::OSq}, {"]", T::CSq}, {",", T::Comma}, {".", T::Dot},
        {":", T::Colon}, {"|", T::Pipe}, {"<=", T::Cmp}, {">=", T::Cmp}, {"==", T::Cmp}, {"!=", T::Cmp},
        {"<", T::Cmp}, {">", T::Cmp}, {"+", T::Add}, {"-", T::Add}, {"~", T::Add}, {"**", T::Pow},
        {"*", T::Mul}, {"//", T::Mul}, {"/", T::Mul}, {"%", T::Mul}, {"=", T::Equals}};
    while (pos < src.size()) {
      bool after_close = toks.empty() || toks.back().type == T::CStmt || toks.back().type == T::CExpr ||
                         toks.back().type == T::Comment;
      if (after_close) {
        size_t b = pos;
        while (pos < src.size() && !(src[pos] == '{' && (at(pos + 1) == '%' || at(pos + 1) == '{' || at(pos + 1) == '#'))) ++pos;
        if (pos > b) {
          int ln = CurLine();
          toks.push_back(Token{src.substr(b, pos - b), T::Text, ln});
          continue;
        }
      }
      if (src[pos] == '{' && at(pos + 1) == '#') {
        pos += 2;
        bool strip_before = at(pos) == '-';
        if (strip_before) ++pos;
        size_t b = pos;
        while (at(pos) != '#' || at(pos + 1) != '}') {
          if (pos + 2 >= src.size()) Err("Missing end of comment tag");
          ++pos;
        }
        std::string comment = src.substr(b, pos - b);
        bool strip_after = !comment.empty() && comment.back() == '-';
        if (strip_after) comment.pop_back();
        if (strip_before) StripTrailing();
        Push(comment, T::Comment);
        pos += 2;
        if (strip_after) SkipSpaces();
        continue;
      }
      if (Starts("{%-")) { StripTrailing(); Push("{%", T::OStmt); pos += 3; continue; }
      if (Starts("{{-")) { StripTrailing(); Push("{{", T::OExpr); curly = 0; pos += 3; continue; }
      ConsumeSpacesInTag();
      if (Starts("-%}")) { Push("%}", T::CStmt); pos += 3; SkipSpaces(); continue; }
      if (Starts("-}}")) { Push("}}", T::CExpr); pos += 3; SkipSpaces(); continue; }
      if (pos >= src.size()) break;
      int ch = at(pos);
      if (ch == '-' || ch == '+') {
        if (toks.empty() || toks.back().type == T::Text) Err(std::string("Unexpected character: ") + (char)ch);
        T lt = toks.back().type;
        if (!(lt == T::Ident || lt == T::Num || lt == T::Str || lt == T::CParen || lt == T::CSq)) {
          ++pos;
          std::string num = ConsumeWhile(IsDigitCh);
          if (!num.empty() && at(pos) == '.' && IsDigitCh(at(pos + 1))) {
            ++pos;
            num += '.';  // (not `"." + ..`: GCC 12 -Wrestrict false positive)
            num += ConsumeWhile(IsDigitCh);
          }
          Push(std::string(1, (char)ch) + num, num.empty() ? T::Unary : T::Num);
          continue;
        }
      }
      bool matched = false;
      for (auto& [seq, type] : kTable) {
        if (type == T::CExpr && curly > 0) continue;
        if (!Starts(seq)) continue;
        Push(seq, type);
        if (type == T::OExpr) curly = 0;
        else if (type == T::OCurly) ++curly;
        else if (type == T::CCurly) --curly;
        pos += std::strlen(seq);
        matched = true;
        break;
      }
      if (matched) continue;
      if (ch == '\'' || ch == '"') {
        ++pos;
        std::string s = ConsumeWhile([ch](int c) { return c != ch; });
        Push(std::move(s), T::Str);
        ++pos;
        continue;
      }
      if (IsDigitCh(ch)) {
        std::string num = ConsumeWhile(IsDigitCh);
        if ((toks.empty() || toks.back().type != T::Dot) && at(pos) == '.' && IsDigitCh(at(pos + 1))) {
          ++pos;
          num += '.';
          num += ConsumeWhile(IsDigitCh);
        }
        Push(std::move(num), T::Num);
        continue;
      }
      if (IsWordCh(ch)) {
        Push(ConsumeWhile(IsWordCh), T::Ident);
        continue;
      }
      Err(ch < 128 && ch >= 32 ? std::string("Unexpected character: ") + (char)ch : strfmt("Unexpected byte 0x%02x", ch));
    }
  }
};

}  // namespace

std::vector<Token> Tokenize(std::string_view source) {
  Lexer lx;
  lx.src = Preprocess(source);
  lx.Run();
  return std::move(lx.toks);
}

}  // namespace moecat::jinja
