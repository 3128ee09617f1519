// Shared pieces of the streaming chat-output parsers: finding markers in a growing buffer,
// deciding how much text can be released now (nothing that could still start a marker, no
// half UTF-8 character), bounded JSON parsing, and tool-call ids.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/chat/chat_format.h"

namespace moecat::chat {

struct MarkerHit {
  size_t pos = std::string_view::npos;  // byte offset of the earliest marker, npos if none
  int which = -1;                       // index into the marker list
};

// Earliest complete marker in buf (ties: the longer marker wins).
MarkerHit find_first_marker(std::string_view buf, const std::vector<std::string_view>& markers);

// Length of the longest suffix of buf that is a proper prefix of some marker: text that must
// be held back because the next piece may complete the marker.
size_t partial_marker_suffix(std::string_view buf, const std::vector<std::string_view>& markers);

// Bytes at the end of buf that form an incomplete (so far valid-looking) UTF-8 sequence.
size_t incomplete_utf8_tail(std::string_view buf);

// How many leading bytes of buf may be released now.
size_t safe_emit_len(std::string_view buf, const std::vector<std::string_view>& markers);

bool is_space(char c);
std::string_view trim(std::string_view s);

// Parses JSON text; returns nullopt on any error or nesting deeper than max_depth (deep
// nesting would make dump() recurse without bound).
std::optional<nlohmann::json> parse_json_bounded(std::string_view s, int max_depth = 256);

// Compact dump that never throws (invalid UTF-8 is replaced).
std::string dump_compact(const nlohmann::json& j);

// The OpenAI "arguments" string for a call's arguments value: objects are re-serialised
// compactly; a string holding a JSON object is accepted too (some templates double-encode).
std::optional<std::string> arguments_string(const nlohmann::json& v);

struct ParsedCall {
  std::string name;
  std::string arguments;  // compact JSON text of the arguments object
  std::string id;         // the call's id when the family's syntax carries one ("" = make one)
};

// {"name": "...", "arguments"|"parameters": {...}} -> call; anything else -> nullopt.
std::optional<ParsedCall> parse_name_args_object(std::string_view text);

// "call_" + 24 alphanumerics, unique within the process (counter mixed by a hash).
std::string make_call_id();
// 9 alphanumerics: Mistral's templates refuse any other tool-call id.
std::string make_mistral_call_id();

ToolCallDelta make_tool_call_delta(int index, ParsedCall call);

}  // namespace moecat::chat
