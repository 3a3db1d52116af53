#include "common/format.h"

#include <doctest/doctest.h>

namespace defender {
namespace {

TEST_CASE("durations print the two largest units") {
  CHECK(FormatDuration(0) == "0s");
  CHECK(FormatDuration(-5) == "0s");
  CHECK(FormatDuration(42) == "42s");
  CHECK(FormatDuration(252) == "4m 12s");
  CHECK(FormatDuration(7200) == "2h 0m");
  CHECK(FormatDuration(3 * 86400 + 4 * 3600 + 59) == "3d 4h");
}

TEST_CASE("durations parse with units or as plain seconds") {
  CHECK(ParseDuration("90s") == 90);
  CHECK(ParseDuration("15m") == 900);
  CHECK(ParseDuration("2h") == 7200);
  CHECK(ParseDuration("1d") == 86400);
  CHECK(ParseDuration("300") == 300);
  CHECK(ParseDuration("0") == 0);
  CHECK_FALSE(ParseDuration("").has_value());
  CHECK_FALSE(ParseDuration("m").has_value());
  CHECK_FALSE(ParseDuration("-5").has_value());
  CHECK_FALSE(ParseDuration("5w").has_value());
  CHECK_FALSE(ParseDuration("1.5h").has_value());
  CHECK_FALSE(ParseDuration("99999999999999999999d").has_value());
  CHECK_FALSE(ParseDuration("999999999999999999d").has_value());
}

TEST_CASE("ISO 8601 in UTC") {
  CHECK(FormatIso8601(0) == "1970-01-01T00:00:00Z");
  CHECK(FormatIso8601(1795902005) == "2026-11-28T21:40:05Z");
}

TEST_CASE("lockout message placeholders") {
  CHECK(RenderMessage("Try again in {cooloff_minutes} minute(s).", 3, 61) ==
        "Try again in 2 minute(s).");
  CHECK(RenderMessage("{failure_limit} tries; {cooloff_seconds}s", 5, 300) ==
        "5 tries; 300s");
  CHECK(RenderMessage("{cooloff_minutes}", 3, 60) == "1");
  CHECK(RenderMessage("{unknown} {failure_limit", 3, 0) ==
        "{unknown} {failure_limit");
  CHECK(RenderMessage(std::string(2000, 'x'), 3, 0).size() == 511);
  // 510 ASCII bytes then a 2-byte character: it would end at byte 512, so
  // it is dropped whole rather than cut in half.
  CHECK(RenderMessage(std::string(510, 'x') + "\xC3\xA9", 3, 0) ==
        std::string(510, 'x'));
  CHECK(RenderMessage(std::string(509, 'x') + "\xC3\xA9", 3, 0) ==
        std::string(509, 'x') + "\xC3\xA9");
}

}  // namespace
}  // namespace defender
