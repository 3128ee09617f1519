// LongCat-Flash-Chat's prompt format, after the model card (README "Chat Template"):
//   {tool_description}\n\n## Messages\n            (only with tools)
//   SYSTEM:{system} [Round 0] USER:{query} ASSISTANT:{response}</longcat_s> [Round 1] USER:...
// tool_description:
//   ## Tools\nYou have access to the following tools: \n\n### Tool namespace: function\n\n
//   #### Tool name: {name}\n\nDescription: {description}\n\nInputSchema: \n{parameters, indent 2}\n\n
//   **Note**: ... (how to call, verbatim)
// Assistant tool calls render as <longcat_tool_call>\n{"name": N, "arguments": A}\n</longcat_tool_call>
// and tool results as a user round holding <longcat_tool_response>\n{result}\n</longcat_tool_response>.
#include <string>

#include "serve/chat/chat_format.h"
#include "serve/chat/marker_scan.h"

namespace moecat {

namespace {

using json = nlohmann::ordered_json;

constexpr const char* kToolNote =
    "**Note**: For each function call, return a json object with function name and arguments within "
    "<longcat_tool_call></longcat_tool_call> XML tags as follows:\n"
    "<longcat_tool_call>\n{\"name\": <function-name>, \"arguments\": <args-dict>}\n</longcat_tool_call>\n"
    "When multiple functions need to be called simultaneously, each function call should be wrapped in "
    "its own <longcat_tool_call> tag and placed consecutively. For example:\n"
    "<longcat_tool_call>\n{\"name\": <function-name>, \"arguments\": <args-dict>}\n</longcat_tool_call>"
    "<longcat_tool_call>\n{\"name\": <function-name>, \"arguments\": <args-dict>}\n</longcat_tool_call>";

// Message content: a string, null, or OpenAI content parts (text parts concatenated).
std::string text_of(const json& c) {
  if (c.is_string()) return c.get<std::string>();
  std::string s;
  if (c.is_array()) {
    for (const json& part : c) {
      if (part.is_string()) s += part.get<std::string>();
      else if (part.is_object() && part.contains("text") && part["text"].is_string()) s += part["text"].get<std::string>();
    }
  }
  return s;
}

std::string field_string(const json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string dump_str(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Python json.dumps style (", " and ": " separators), as Jinja's tojson prints.
void py_dump(const json& j, std::string& out, int depth) {
  if (depth > 200) { out += dump_str(j); return; }
  if (j.is_object()) {
    out += '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      out += dump_str(json(it.key()));
      out += ": ";
      py_dump(it.value(), out, depth + 1);
    }
    out += '}';
  } else if (j.is_array()) {
    out += '[';
    for (size_t i = 0; i < j.size(); ++i) {
      if (i) out += ", ";
      py_dump(j[i], out, depth + 1);
    }
    out += ']';
  } else {
    out += dump_str(j);
  }
}

std::string render_tools(const json& tools) {
  std::string s = "## Tools\nYou have access to the following tools: \n\n### Tool namespace: function\n\n";
  for (const json& tool : tools) {
    const json& fn = tool.is_object() && tool.contains("function") ? tool["function"] : tool;
    s += "#### Tool name: " + field_string(fn, "name") + "\n\n";
    s += "Description: " + field_string(fn, "description") + "\n\n";
    json params = fn.is_object() && fn.contains("parameters") ? fn["parameters"] : json::object();
    s += "InputSchema: \n" + params.dump(2, ' ', false, json::error_handler_t::replace) + "\n\n";
  }
  s += kToolNote;
  return s;
}

std::string render_call(const json& tc) {
  const json& fn = tc.is_object() && tc.contains("function") ? tc["function"] : tc;
  std::string s = "<longcat_tool_call>\n{\"name\": " + dump_str(json(field_string(fn, "name"))) + ", \"arguments\": ";
  json args = fn.is_object() && fn.contains("arguments") ? fn["arguments"] : json::object();
  if (args.is_string()) s += args.get<std::string>();  // already JSON text (OpenAI shape)
  else py_dump(args, s, 0);
  s += "}\n</longcat_tool_call>";
  return s;
}

}  // namespace

std::string render_longcat_chat(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                bool add_generation_prompt) {
  std::string out;
  if (tools.is_array() && !tools.empty()) out = render_tools(tools) + "\n\n## Messages\n";
  const size_t start = out.size();
  int round = 0;
  std::string prev_role;
  auto open_round = [&] {
    if (out.size() > start) out += ' ';
    out += "[Round " + std::to_string(round++) + "] USER:";
  };
  if (messages.is_array()) {
    for (const json& m : messages) {
      std::string role = field_string(m, "role");
      std::string content = m.is_object() && m.contains("content") ? text_of(m["content"]) : std::string();
      if (role == "system") {
        if (out.size() > start) out += ' ';
        out += "SYSTEM:" + content;
      } else if (role == "user") {
        open_round();
        out += content;
      } else if (role == "assistant") {
        out += " ASSISTANT:" + content;
        if (m.contains("tool_calls") && m["tool_calls"].is_array())
          for (const json& tc : m["tool_calls"]) out += render_call(tc);
        out += "</longcat_s>";
      } else if (role == "tool") {
        if (prev_role != "tool") open_round();  // consecutive results share one round
        out += "<longcat_tool_response>\n" + content + "\n</longcat_tool_response>";
      }
      prev_role = role;
    }
  }
  if (add_generation_prompt) out += " ASSISTANT:";
  return out;
}

}  // namespace moecat
