// Runtime values of the Jinja engine. Mirrors the value model of @huggingface/jinja: numbers are
// JS doubles tagged int/float, strings are UTF-8, arrays/objects are shared (identity matters for
// `==` and `in` like JS references), objects keep insertion order, undefined != null.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace moecat::jinja {

// Internal error channel: thrown while parsing/rendering, turned into a Status at the API boundary.
struct JinjaError {
  std::string msg;
  int line = 0;  // template line, once known
};
[[noreturn]] void Fail(std::string msg);

enum class K : uint8_t { Undefined, Null, Bool, Int, Float, Str, Array, Tuple, Object, KwArgs, Namespace, Func };

struct Value;
struct Interp;
struct Env;
using Array = std::vector<Value>;
struct Object;
// Callable: args (kwargs, if any, as a trailing KwArgs value, like the reference) and caller scope.
using Fn = std::function<Value(Interp&, std::vector<Value>&, const std::shared_ptr<Env>&)>;

struct Value {
  K k = K::Undefined;
  bool b = false;
  double n = 0;
  std::shared_ptr<const std::string> s;
  std::shared_ptr<Array> a;   // Array / Tuple
  std::shared_ptr<Object> o;  // Object / KwArgs / Namespace
  std::shared_ptr<Fn> f;

  static Value Undef() { return Value(); }
  static Value Null() { Value v; v.k = K::Null; return v; }
  static Value Bool(bool x) { Value v; v.k = K::Bool; v.b = x; return v; }
  static Value Int(double x) { Value v; v.k = K::Int; v.n = x; return v; }
  static Value Float(double x) { Value v; v.k = K::Float; v.n = x; return v; }
  static Value Str(std::string x) { Value v; v.k = K::Str; v.s = std::make_shared<const std::string>(std::move(x)); return v; }
  static Value Arr(Array x, K kind = K::Array);
  static Value Obj(std::shared_ptr<Object> o, K kind = K::Object) { Value v; v.k = kind; v.o = std::move(o); return v; }
  static Value Func(Fn fn) { Value v; v.k = K::Func; v.f = std::make_shared<Fn>(std::move(fn)); return v; }

  bool is_num() const { return k == K::Int || k == K::Float; }
  bool is_array() const { return k == K::Array || k == K::Tuple; }        // instanceof ArrayValue
  bool is_object() const { return k == K::Object || k == K::KwArgs; }     // instanceof ObjectValue
  bool is_container() const { return is_object() || k == K::Namespace; }  // attribute container
  const std::string& str() const { return *s; }
};

// Insertion-ordered string-keyed map.
struct Object {
  std::vector<std::pair<std::string, Value>> items;
  std::unordered_map<std::string, size_t> index;
  const Value* get(const std::string& key) const {
    auto it = index.find(key);
    return it == index.end() ? nullptr : &items[it->second].second;
  }
  void set(const std::string& key, Value v) {
    auto it = index.find(key);
    if (it != index.end()) { items[it->second].second = std::move(v); return; }
    index.emplace(key, items.size());
    items.emplace_back(key, std::move(v));
  }
  size_t size() const { return items.size(); }
};

const char* TypeName(const Value& v);  // the reference's runtime type names, for messages
bool Truthy(const Value& v);
std::string JsNumber(double x);                 // JS Number.prototype.toString()
std::string Display(const Value& v);            // RuntimeValue.toString() (what {{ }} prints)
std::string JsRaw(const Value& v);              // String(value.value) as used by `~`, `+`, join
bool LooseEq(const Value& a, const Value& b);   // JS `==` on the underlying values
bool StrictEq(const Value& a, const Value& b);  // JS `===` / SameValueZero on the underlying values

struct JsonOpts {
  int indent = 0;  // 0: none
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool has_separators = false;
  std::string item_sep, key_sep;
};
std::string ToJson(const Value& v, const JsonOpts& opts, bool undefined_to_null = true);

// JSON input -> Value (depth-bounded).
Value FromJson(const nlohmann::ordered_json& j, int depth = 0);

// UTF-8 helpers that follow JS semantics where the real templates can observe them.
size_t Utf16Length(std::string_view s);
std::vector<std::string> CodePoints(std::string_view s);  // Array.from(str)
size_t JsSpaceLen(std::string_view s, size_t i);             // length of a JS \s char at i, else 0
std::string JsTrim(std::string_view s, bool left, bool right);
std::string AsciiLower(std::string s);
std::string AsciiUpper(std::string s);
std::string JsUpper(const std::string& s);  // toUpperCase (Latin/Greek/Cyrillic)
std::string JsLower(const std::string& s);
// JS `undefined` that is not an UndefinedValue (e.g. `[] | first`): most uses are errors there.
inline bool IsHole(const Value& v) { return v.k == K::Undefined && v.b; }
inline Value Hole() { Value v; v.b = true; return v; }

}  // namespace moecat::jinja
