# cmake -DIN=file -DOUT=file.cpp -DNAME=symbol -P embed_file.cmake
# Writes a C++ source defining `std::string_view moecat::embedded::NAME()` with the bytes of IN
# (a byte array, so any content is safe: no raw-string delimiter or escaping issues).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR size "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by cmake/embed_file.cmake; do not edit.\n#include <string_view>\n\nnamespace moecat::embedded {\nnamespace {\nconst unsigned char kData[] = {\n${bytes}0x00};\n}  // namespace\nstd::string_view ${NAME}() { return {reinterpret_cast<const char*>(kData), ${size}}; }\n}  // namespace moecat::embedded\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
