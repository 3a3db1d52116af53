// User-name handling: PAM_USER as an attacker types it, and the escaping
// every stored or logged text goes through.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/normalize.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool fold = data[0] & 1;
  const size_t max = data[0] >> 1;  // 0-127: small limits cut often.
  const std::string_view text(reinterpret_cast<const char*>(data) + 1,
                              size - 1);

  if (std::optional<std::string> u = defender::NormalizeUser(text, fold)) {
    fuzz::Check(!u->empty(), "a user subject is never empty");
    fuzz::Check(fuzz::IsBoundedPrintable(*u, defender::kMaxSubjectBytes),
                "a user subject is bounded printable text");
    if (fold) {
      for (size_t i = 0; i < u->size(); ++i) {
        if ((*u)[i] == '%') {
          i += 2;  // Escapes use upper-case hex digits.
          continue;
        }
        fuzz::Check((*u)[i] < 'A' || (*u)[i] > 'Z', "folded to lower case");
      }
    }
  }

  const std::string escaped = defender::EscapeText(text, max);
  fuzz::Check(fuzz::IsBoundedPrintable(escaped, max),
              "EscapeText yields bounded printable text");
  // Every '%' in the output starts a whole escape of an input byte.
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] == '%') {
      fuzz::Check(i + 2 < escaped.size(), "an escape is never cut");
      i += 2;
    }
  }
  // With room for everything, nothing is lost: input bytes that need no
  // escape appear in order.
  const std::string full = defender::EscapeText(text, 3 * text.size());
  size_t unescaped = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    if (full[i] == '%') {
      i += 2;
      ++unescaped;
    } else {
      ++unescaped;
    }
  }
  fuzz::Check(unescaped <= text.size(), "no byte is invented");
  return 0;
}
