// Human and machine output shared by the commands: aligned tables, local
// times, remaining durations, and JSON on stdout.
#ifndef PAM_DEFENDER_DEFENDERCTL_OUTPUT_H_
#define PAM_DEFENDER_DEFENDERCTL_OUTPUT_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/subject.h"

namespace defender::ctl {

using Json = nlohmann::ordered_json;

// A table printed with its columns aligned (two spaces apart, widths in
// UTF-8 characters), the header line in capitals. Every cell is passed
// through EscapeForDisplay (normalize.h): cells may be store data. A cell
// that holds a name goes through DisplayName (normalize.h) first.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // `row` has as many cells as there are headers; an empty cell prints "-".
  void Add(std::vector<std::string> row);
  bool empty() const { return rows_.empty(); }
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "2026-11-28 22:40:05" in the local time zone (TZ).
std::string LocalTime(int64_t epoch);

// What a block still lasts at `now`: "4m 12s", "permanent", or "-" when
// the subject is not blocked.
std::string LeftText(const SubjectState& s, int64_t now);

// "user alice", "host 10.0.0.1"; the name through DisplayName (one word).
std::string Describe(const Subject& s);

// `text` as one word of a shell command to copy: as it is when it holds
// only letters, digits and ._:/@%+=,- (an address, a plain host or user
// name), else in single quotes (each ' as '\''), so that a name an
// attacker chose ("h;rm -rf ~") is never run as a command.
std::string ShellWord(std::string_view text);

// Prints `value` (pretty, two-space indent) and a newline on stdout: valid
// UTF-8 JSON whose strings hold no hidden code point (normalize.h) except as
// \uXXXX escapes; invalid UTF-8 in a string becomes U+FFFD.
void PrintJson(const Json& value);

class Context;

// A command's result: `json` (PrintJson) under --json, else `text`
// (PrintOut).
void PrintResult(const Context& ctx, const Json& json, const std::string& text);

// The JSON form of a subject's state at `now` (the `list` object of
// doc/DESIGN.md §12): kind, subject, failures, until, remaining_seconds,
// permanent, blocked.
Json StateJson(const Subject& subject, const SubjectState& state, int64_t now);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_OUTPUT_H_
