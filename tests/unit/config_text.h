// Parsing configuration text in a test, named "t.toml" in its messages.
#ifndef PAM_DEFENDER_TESTS_UNIT_CONFIG_TEXT_H_
#define PAM_DEFENDER_TESTS_UNIT_CONFIG_TEXT_H_

#include <doctest/doctest.h>

#include <string>

#include "common/config.h"

namespace defender::testing {

// `text` parsed; the test fails (with the parser's message) if it is not
// valid.
inline Config Parse(const std::string& text) {
  Config cfg;
  std::string err;
  REQUIRE_MESSAGE(ParseConfigText(text, "t.toml", &cfg, &err), err);
  return cfg;
}

// The parser's message for `text`; the test fails if `text` is valid.
inline std::string ParseError(const std::string& text) {
  Config cfg;
  std::string err;
  CHECK_FALSE(ParseConfigText(text, "t.toml", &cfg, &err));
  return err;
}

}  // namespace defender::testing

#endif  // PAM_DEFENDER_TESTS_UNIT_CONFIG_TEXT_H_
