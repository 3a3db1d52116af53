// Checks shared by the fuzz targets. A violated property aborts, which
// libFuzzer (and the replay driver) report as a crash with the input.
#ifndef PAM_DEFENDER_TESTS_FUZZ_FUZZ_CHECK_H_
#define PAM_DEFENDER_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "tests/support/printable.h"

namespace fuzz {

[[noreturn]] inline void Fail(const char* what) {
  fprintf(stderr, "property violated: %s\n", what);
  abort();
}

inline void Check(bool ok, const char* what) {
  if (!ok) Fail(what);
}

// The normalize.h contract for stored text: at most `max` bytes, valid
// UTF-8, no C0 control or DEL ('%' is plain text here).
inline bool IsBoundedPrintable(std::string_view s, size_t max) {
  return defender::testing::IsBoundedPrintableText(s, max,
                                                   /*percent_escaped=*/false);
}

}  // namespace fuzz

#endif  // PAM_DEFENDER_TESTS_FUZZ_FUZZ_CHECK_H_
