// JSON output of defenderctl in the tests.
#ifndef DEFENDER_TESTS_SUPPORT_JSON_H_
#define DEFENDER_TESTS_SUPPORT_JSON_H_

#include <doctest/doctest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace defender::testing {

using Json = nlohmann::json;

// Parses `text` as JSON; fails the running test if it is not.
inline Json ParseJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  REQUIRE_MESSAGE(!j.is_discarded(), "not JSON: " << text);
  return j;
}

// One object of `defenderctl list --json`. nullopt `until` and
// `remaining_seconds` stand for JSON null (a permanent block).
struct ListedSubject {
  std::string kind, subject;
  int64_t failures = 0;
  std::optional<int64_t> until, remaining_seconds;
  bool permanent = false;
};

// Checks each of those six fields of `entry` against `want`, one CHECK a
// field.
inline void CheckListed(const Json& entry, const ListedSubject& want) {
  INFO("entry: ", entry.dump());
  CHECK(entry["kind"] == want.kind);
  CHECK(entry["subject"] == want.subject);
  CHECK(entry["failures"] == want.failures);
  if (want.until) {
    CHECK(entry["until"] == *want.until);
  } else {
    CHECK(entry["until"].is_null());
  }
  if (want.remaining_seconds) {
    CHECK(entry["remaining_seconds"] == *want.remaining_seconds);
  } else {
    CHECK(entry["remaining_seconds"].is_null());
  }
  CHECK(entry["permanent"] == want.permanent);
}

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_JSON_H_
