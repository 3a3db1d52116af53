// The contract for stored text (doc/DESIGN.md §2, common/normalize.h) as a
// predicate, for the hardening tests and the fuzz targets alike. Header
// only and standard library only, so a fuzz target builds with nothing but
// its own sources.
#ifndef DEFENDER_TESTS_SUPPORT_PRINTABLE_H_
#define DEFENDER_TESTS_SUPPORT_PRINTABLE_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace defender::testing {

// True when `s` has at most `max_bytes` bytes, is valid UTF-8 (no overlong
// forms, surrogates or values above U+10FFFF) and holds no C0 control or
// DEL. With `percent_escaped`, every '%' must also start an upper-case
// "%XX" (text as stored, escaped).
inline bool IsBoundedPrintableText(std::string_view s, size_t max_bytes,
                                   bool percent_escaped) {
  if (s.size() > max_bytes) return false;
  const auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
  };
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (percent_escaped && c == '%') {
      if (i + 2 >= s.size() || !hex(s[i + 1]) || !hex(s[i + 2])) {
        return false;
      }
      i += 3;
      continue;
    }
    const size_t len = c < 0x80           ? 1
                       : (c >> 5) == 0x6  ? 2
                       : (c >> 4) == 0xE  ? 3
                       : (c >> 3) == 0x1E ? 4
                                          : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    // Overlong forms, surrogates and values above U+10FFFF.
    const auto b1 = static_cast<uint8_t>(len > 1 ? s[i + 1] : 0);
    if ((len == 2 && c < 0xC2) || (len == 3 && c == 0xE0 && b1 < 0xA0) ||
        (len == 3 && c == 0xED && b1 >= 0xA0) ||
        (len == 4 && c == 0xF0 && b1 < 0x90) ||
        (len == 4 && (c > 0xF4 || (c == 0xF4 && b1 >= 0x90)))) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_PRINTABLE_H_
