// Checks shared by the fuzz targets. A violated property aborts, which
// libFuzzer (and the replay driver) report as a crash with the input.
#ifndef PAM_DEFENDER_TESTS_FUZZ_FUZZ_CHECK_H_
#define PAM_DEFENDER_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace fuzz {

[[noreturn]] inline void Fail(const char* what) {
  fprintf(stderr, "property violated: %s\n", what);
  abort();
}

inline void Check(bool ok, const char* what) {
  if (!ok) Fail(what);
}

// The normalize.h contract for stored text: at most `max` bytes, valid
// UTF-8 (no overlong forms, surrogates or values above U+10FFFF), no C0
// control or DEL.
inline bool IsBoundedPrintable(std::string_view s, size_t max) {
  if (s.size() > max) return false;
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    const size_t len = c < 0x80           ? 1
                       : (c >> 5) == 0x6  ? 2
                       : (c >> 4) == 0xE  ? 3
                       : (c >> 3) == 0x1E ? 4
                                          : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return false;
    }
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

}  // namespace fuzz

#endif  // PAM_DEFENDER_TESTS_FUZZ_FUZZ_CHECK_H_
