// doctest printers for the value types the tests compare, so that a failed
// CHECK shows both sides.
#ifndef PAM_DEFENDER_TESTS_UNIT_PRINTERS_H_
#define PAM_DEFENDER_TESTS_UNIT_PRINTERS_H_

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace doctest {

template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& v) {
    std::string out = "{";
    for (size_t i = 0; i < v.size(); ++i) {
      out += (i ? ", \"" : "\"") + v[i] + "\"";
    }
    return (out + "}").c_str();
  }
};

template <>
struct StringMaker<std::vector<int64_t>> {
  static String convert(const std::vector<int64_t>& v) {
    std::string out = "{";
    for (size_t i = 0; i < v.size(); ++i) {
      out += (i ? ", " : "") + std::to_string(v[i]);
    }
    return (out + "}").c_str();
  }
};

}  // namespace doctest

#endif  // PAM_DEFENDER_TESTS_UNIT_PRINTERS_H_
