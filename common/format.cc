#include "common/format.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "common/lazy_libc.h"

namespace defender {

std::string FormatDuration(int64_t s) {
  if (s <= 0) return "0s";
  struct Unit {
    int64_t seconds;
    const char* name;
  };
  static constexpr Unit kUnits[] = {
      {86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
  for (size_t i = 0; i < 4; ++i) {
    if (s >= kUnits[i].seconds) {
      std::string out = std::to_string(s / kUnits[i].seconds) + kUnits[i].name;
      if (i + 1 < 4) {
        out += " " +
               std::to_string((s % kUnits[i].seconds) / kUnits[i + 1].seconds) +
               kUnits[i + 1].name;
      }
      return out;
    }
  }
  return "0s";
}

std::string FormatTime(int64_t epoch, bool local, const char* format) {
  const time_t t = static_cast<time_t>(epoch);
  struct tm tm;
  char buf[64];
  if ((local ? lazy::localtime_r(&t, &tm) : lazy::gmtime_r(&t, &tm)) ==
          nullptr ||
      lazy::strftime(buf, sizeof(buf), format, &tm) == 0) {
    return std::to_string(epoch);
  }
  return buf;
}

std::string FormatIso8601(int64_t epoch) {
  return FormatTime(epoch, /*local=*/false, "%Y-%m-%dT%H:%M:%SZ");
}

std::optional<int64_t> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t unit = 1;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      unit = 0;
  }
  if (unit != 0) {
    text.remove_suffix(1);
  } else {
    unit = 1;
  }
  int64_t value = 0;
  auto [end, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value < 0 || value > INT64_MAX / unit) {
    return std::nullopt;
  }
  return value * unit;
}

std::string RenderMessage(std::string_view tmpl, int64_t failure_limit,
                          int64_t cooloff_seconds) {
  constexpr size_t kMax = 511;
  const std::pair<std::string_view, std::string> kVars[] = {
      {"{failure_limit}", std::to_string(failure_limit)},
      {"{cooloff_seconds}", std::to_string(cooloff_seconds)},
      {"{cooloff_minutes}",
       std::to_string(cooloff_seconds / 60 + (cooloff_seconds % 60 > 0))},
  };
  std::string out;
  out.reserve(std::min(tmpl.size() + 16, kMax + 1));  // Most of the time.
  size_t i = 0;
  while (i < tmpl.size()) {
    bool replaced = false;
    if (tmpl[i] == '{') {
      for (const auto& [name, value] : kVars) {
        if (tmpl.substr(i, name.size()) == name) {
          out += value;
          i += name.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += tmpl[i++];
  }
  if (out.size() > kMax) {
    out.resize(kMax);
    // Do not leave half a UTF-8 sequence at the end.
    size_t lead = out.size();
    while (lead > 0 && (static_cast<uint8_t>(out[lead - 1]) & 0xC0) == 0x80) {
      --lead;
    }
    if (lead > 0 && static_cast<uint8_t>(out[lead - 1]) >= 0xC0) {
      const uint8_t c = static_cast<uint8_t>(out[lead - 1]);
      const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      if (out.size() - (lead - 1) < need) out.resize(lead - 1);
    }
  }
  return out;
}

}  // namespace defender
