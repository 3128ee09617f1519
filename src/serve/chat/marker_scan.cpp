#include "serve/chat/marker_scan.h"

#include <atomic>
#include <chrono>
#include <cstdint>

namespace moecat::chat {

MarkerHit find_first_marker(std::string_view buf, const std::vector<std::string_view>& markers) {
  MarkerHit best;
  for (int i = 0; i < static_cast<int>(markers.size()); ++i) {
    if (markers[i].empty()) continue;
    size_t p = buf.find(markers[i]);
    if (p == std::string_view::npos) continue;
    if (p < best.pos || (p == best.pos && markers[i].size() > markers[best.which].size())) {
      best.pos = p;
      best.which = i;
    }
  }
  return best;
}

size_t partial_marker_suffix(std::string_view buf, const std::vector<std::string_view>& markers) {
  size_t best = 0;
  for (std::string_view m : markers) {
    if (m.size() < 2) continue;
    size_t k = std::min(m.size() - 1, buf.size());
    for (; k > best; --k) {
      if (buf.substr(buf.size() - k) == m.substr(0, k)) {
        best = k;
        break;
      }
    }
  }
  return best;
}

size_t incomplete_utf8_tail(std::string_view buf) {
  // Walk back over at most 3 continuation bytes to the lead byte.
  size_t n = buf.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    unsigned char c = static_cast<unsigned char>(buf[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return back < need ? back : 0;
  }
  return 0;  // stray continuation bytes: invalid anyway, release them
}

size_t safe_emit_len(std::string_view buf, const std::vector<std::string_view>& markers) {
  size_t hold = std::max(partial_marker_suffix(buf, markers), incomplete_utf8_tail(buf));
  return buf.size() - hold;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

static bool depth_ok(std::string_view s, int max_depth) {
  int depth = 0;
  bool in_str = false, esc = false;
  for (char c : s) {
    if (in_str) {
      if (esc) esc = false;
      else if (c == '\\') esc = true;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '{' || c == '[') { if (++depth > max_depth) return false; }
    else if (c == '}' || c == ']') --depth;
  }
  return true;
}

std::optional<nlohmann::json> parse_json_bounded(std::string_view s, int max_depth) {
  if (!depth_ok(s, max_depth)) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string dump_compact(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::string> arguments_string(const nlohmann::json& v) {
  if (v.is_object()) return dump_compact(v);
  if (v.is_string()) {
    auto inner = parse_json_bounded(v.get_ref<const std::string&>());
    if (inner && inner->is_object()) return dump_compact(*inner);
  }
  return std::nullopt;
}

std::optional<ParsedCall> parse_name_args_object(std::string_view text) {
  auto j = parse_json_bounded(trim(text));
  if (!j || !j->is_object()) return std::nullopt;
  auto name = j->find("name");
  if (name == j->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) return std::nullopt;
  ParsedCall call{name->get<std::string>(), "{}"};
  auto args = j->find("arguments");
  if (args == j->end()) args = j->find("parameters");
  if (args != j->end() && !args->is_null()) {
    auto s = arguments_string(*args);
    if (!s) return std::nullopt;
    call.arguments = *s;
  }
  return call;
}

static uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::string make_call_id() {
  static const uint64_t seed =
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  static std::atomic<uint64_t> counter{0};
  uint64_t n = counter.fetch_add(1);
  static const char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string id = "call_";
  uint64_t h = splitmix64(seed ^ splitmix64(n));
  for (int i = 0; i < 24; ++i) {
    if (i > 0 && i % 10 == 0) h = splitmix64(h ^ (n + i));  // 10 base-62 digits use ~60 bits
    id += kAlnum[h % 62];
    h /= 62;
  }
  return id;
}

std::string make_mistral_call_id() { return make_call_id().substr(5, 9); }

ToolCallDelta make_tool_call_delta(int index, ParsedCall call) {
  ToolCallDelta d;
  d.index = index;
  d.id = call.id.empty() ? make_call_id() : std::move(call.id);
  d.name = std::move(call.name);
  d.arguments = std::move(call.arguments);
  return d;
}

}  // namespace moecat::chat
