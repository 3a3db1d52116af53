// The lockout-message template and the duration parser and printer.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/format.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int64_t limit = 0, cooloff = 0;
  if (size >= 16) {
    memcpy(&limit, data, 8);
    memcpy(&cooloff, data + 8, 8);
    data += 16;
    size -= 16;
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const std::string msg = defender::RenderMessage(text, limit, cooloff);
  fuzz::Check(msg.size() <= 511, "a message fits PAM_MAX_MSG_SIZE");

  if (std::optional<int64_t> d = defender::ParseDuration(text)) {
    fuzz::Check(*d >= 0, "durations are never negative");
    fuzz::Check(!defender::FormatDuration(*d).empty(), "durations print");
  }
  fuzz::Check(!defender::FormatDuration(limit).empty(), "any number prints");
  fuzz::Check(!defender::FormatIso8601(cooloff).empty(), "any time prints");
  return 0;
}
