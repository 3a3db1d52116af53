// CheckTomlDepth: keys of more than 8 dotted parts and brackets nested more
// than 8 deep are refused with their line, before toml++ (whose recursion
// over a key of 150,000 parts overflowed the stack of the process parsing
// it); valid TOML within the bounds passes, whatever its strings, comments
// and values hold.
#include "common/toml_depth.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "tests/support/files.h"
#include "tests/unit/config_text.h"

namespace defender {
namespace {

// "ok", or "LINE: WHAT".
std::string Scan(const std::string& text) {
  int line = 0;
  std::string what;
  if (CheckTomlDepth(text, &line, &what)) return "ok";
  return std::to_string(line) + ": " + what;
}

std::string Dotted(int parts) {
  std::string key = "a";
  for (int i = 1; i < parts; ++i) key += ".a";
  return key;
}

constexpr char kParts[] = "a key of more than 8 dotted parts";
constexpr char kDeep[] = "arrays or inline tables nested more than 8 deep";

TEST_CASE("keys: eight dotted parts pass, nine do not, on their line") {
  CHECK(Scan(Dotted(8) + " = 1\n") == "ok");
  CHECK(Scan("# x\n\n" + Dotted(9) + " = 1\n") == std::string("3: ") + kParts);
  CHECK(Scan("[" + Dotted(8) + "]\n") == "ok");
  CHECK(Scan("[lockout]\n[" + Dotted(9) + "]\n") ==
        std::string("2: ") + kParts);
  CHECK(Scan("[[" + Dotted(9) + "]]\n") == std::string("1: ") + kParts);
  // Spaces around the dots, quoted parts.
  CHECK(Scan("a . b . c . d . e . f . g . h . i = 1\n") ==
        std::string("1: ") + kParts);
  CHECK(Scan("a.\"b\".'c'.d.e.f.g.h.i = 1\n") == std::string("1: ") + kParts);
  // Dots inside quoted parts are not parts.
  CHECK(Scan("\"a.b.c.d.e.f.g.h.i.j\" = 1\n[\"x.y.z.a.b.c.d.e.f\"]\n") == "ok");
  // Inline tables' keys too.
  CHECK(Scan("x = { " + Dotted(9) + " = 1 }\n") == std::string("1: ") + kParts);
  CHECK(Scan("x = { a = 1, " + Dotted(8) + " = 2 }\n") == "ok");
}

TEST_CASE("a key of 150,000 parts is refused, not parsed") {
  CHECK(Scan("[lockout]\n[x." + Dotted(150'000) + "]\n") ==
        std::string("2: ") + kParts);
  CHECK(Scan(Dotted(150'000) + " = 1\n") == std::string("1: ") + kParts);
}

TEST_CASE("nesting: eight levels pass, nine do not") {
  CHECK(Scan("x = " + std::string(8, '[') + std::string(8, ']') + "\n") ==
        "ok");
  CHECK(Scan("x = 1\ny = " + std::string(9, '[') + std::string(9, ']') +
             "\n") == std::string("2: ") + kDeep);
  CHECK(Scan("x = {a = {b = {c = {d = {e = {f = {g = {h = 1}}}}}}}}\n") ==
        "ok");
  CHECK(Scan("x = {a = {b = {c = {d = {e = {f = {g = {h = {i = 1}}}}}}}}}\n") ==
        std::string("1: ") + kDeep);
  CHECK(Scan("x = [{a = [{b = [{c = [{d = 1}]}]}]}]\n") == "ok");
  CHECK(Scan("x = [{a = [{b = [{c = [{d = [1]}]}]}]}]\n") ==
        std::string("1: ") + kDeep);
  // Multi-line arrays keep their depth across lines and comments.
  CHECK(Scan("x = [\n  [ # [[[[[[[[[\n  1 ],\n  [2],\n]\ny = 3\n") == "ok");
}

TEST_CASE("strings, comments and values are not keys or brackets") {
  // Every bracket, dot, quote and hash below is inside a string or a
  // comment, or is a value's.
  const std::string text =
      "# [a.b.c.d.e.f.g.h.i] a.b.c.d.e.f.g.h.i = 1\n"
      "[lockout]\n"
      "lockout_message = \"[[[[[[[[[[ a.b.c.d.e.f.g.h.i.j = \\\" ]] #\"\n"
      "permanent_lockout_message = 'a.b.c.d.e.f.g.h.i.j [[[[[[[[[[ \\'\n"
      "host_lockout_message = \"\"\"\n"
      "a.b.c.d.e.f.g.h.i.j = [[[[[[[[[[\n"
      "\"\" still inside \\\"\"\" also inside\n"
      "\"\"\"\n"
      "allow_users = ['''x.y.z.a.b.c.d.e.f.g\n"
      "[[[[[[[[[[''', \"b\"]\n"
      "[store]\n"
      "dir = \"/a/b.c/d\" # [[[[[[[[[[[ x.y.z.a.b.c.d.e.f.g\n"
      "when = 1979-05-27T07:32:00.999999Z\n"
      "ratio = 1.5e10\n"
      "ends = \"\"\"quoted \"\"\"\"\"\n"
      "x.y.z.a.b.c.d.e = 1\n";
  CHECK(Scan(text) == "ok");
  // The lines after the strings are counted right.
  CHECK(Scan(text + Dotted(9) + " = 1\n") == std::string("17: ") + kParts);
  // A backslash-newline inside a multi-line basic string.
  CHECK(Scan("a = \"\"\"x \\\n y\"\"\"\n" + Dotted(9) + " = 1\n") ==
        std::string("3: ") + kParts);
}

TEST_CASE("the shipped configuration passes; the parser reports the line") {
  CHECK(Scan(testing::ReadFile(testing::SourcePath("etc/defender.toml"))) ==
        "ok");
  CHECK(testing::ParseError("[lockout]\n[x." + Dotted(150'000) + "]\n") ==
        std::string("t.toml:2: ") + kParts);
}

}  // namespace
}  // namespace defender
