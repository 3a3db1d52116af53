// JSON output of defenderctl in the tests.
#ifndef DEFENDER_TESTS_SUPPORT_JSON_H_
#define DEFENDER_TESTS_SUPPORT_JSON_H_

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace defender::testing {

using Json = nlohmann::json;

// Parses `text` as JSON; fails the running test if it is not.
inline Json ParseJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  REQUIRE_MESSAGE(!j.is_discarded(), "not JSON: " << text);
  return j;
}

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_JSON_H_
