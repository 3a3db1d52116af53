// Text forms of times and durations shared by the module's log lines and the
// CLI, so both print the same thing.
#ifndef PAM_DEFENDER_COMMON_FORMAT_H_
#define PAM_DEFENDER_COMMON_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace defender {

// "4m 12s", "2h 0m", "3d 4h", "0s"; the two largest non-zero units.
std::string FormatDuration(int64_t seconds);

// `epoch` through strftime(`format`) in UTC, or in the local time zone (TZ)
// when `local`; the number itself when it cannot be formatted.
std::string FormatTime(int64_t epoch, bool local, const char* format);

// "2026-11-28T21:40:05Z".
std::string FormatIso8601(int64_t epoch);

// Parses "90s", "15m", "2h", "1d" or plain seconds ("300"). Returns nullopt
// for anything else, negative values, or overflow.
std::optional<int64_t> ParseDuration(std::string_view text);

// Replaces {failure_limit}, {cooloff_seconds} and {cooloff_minutes} (rounded
// up) in `tmpl`; other text, including unknown {names}, is kept. The result
// is cut to 511 bytes (PAM_MAX_MSG_SIZE - 1).
std::string RenderMessage(std::string_view tmpl, int64_t failure_limit,
                          int64_t cooloff_seconds);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_FORMAT_H_
