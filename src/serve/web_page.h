// The chat page `moecat serve` answers at / (web/chat.html, compiled in by
// cmake/embed_file.cmake): HTML, CSS and JavaScript in one file, against the server's own API.
#pragma once
#include <string_view>

namespace moecat::embedded {
std::string_view chat_page();
}  // namespace moecat::embedded
