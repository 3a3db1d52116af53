// A bound on how deeply a TOML text nests, checked before toml++ parses it.
//
// toml++ 3.3 recurses once per part of a dotted key (`a.b.c = 1`,
// `[a.b.c]`), when it builds the tables and again when it frees them: a
// file with a key of some 30,000 to 150,000 parts overflows the stack of
// the process that parses it (the module's configuration parser runs in
// sshd's, sudo's or login's; defenderctl). No configuration key has more
// than two parts, nor does any value nest arrays, so a text with a key of
// more than kMaxTomlKeyParts parts, or arrays and inline tables nested more
// than kMaxTomlNesting deep, is refused before it is parsed.
//
// The scan follows TOML's lexical structure only (strings of the four
// kinds, comments, keys, table headers, brackets); whatever it lets
// through, toml++ still checks. For a valid TOML text it refuses only what
// exceeds the bounds.
#ifndef PAM_DEFENDER_COMMON_TOML_DEPTH_H_
#define PAM_DEFENDER_COMMON_TOML_DEPTH_H_

#include <string>
#include <string_view>

namespace defender {

inline constexpr int kMaxTomlKeyParts = 8;
inline constexpr int kMaxTomlNesting = 8;

// True when `text` stays within both bounds. Otherwise false, with *line
// the 1-based line where a bound was passed and *what saying which ("a key
// of more than 8 dotted parts", "arrays or inline tables nested more than
// 8 deep"). Linear in the text's length, no allocation beyond *what.
bool CheckTomlDepth(std::string_view text, int* line, std::string* what);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_TOML_DEPTH_H_
