// Internal to the config implementation: the table of known keys and the one
// setter shared by the TOML file parser and the module's KEY=VALUE arguments.
#ifndef PAM_DEFENDER_COMMON_CONFIG_KEYS_H_
#define PAM_DEFENDER_COMMON_CONFIG_KEYS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"

namespace defender::config_internal {

enum class KeyType {
  kInt,
  kBool,
  kString,
  kStringList,
  kIntOrIntList,
  kIntList,  // May be empty.
};

// A value as read from a file or an argument, before validation.
struct Value {
  enum class Type { kInt, kBool, kString, kIntList, kStringList } type;
  int64_t i = 0;
  bool b = false;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

// One key of the table. It holds no pointer, so that the table needs no
// relocation when the module is loaded: the table with pointers (2.4 KB)
// made the module's .data.rel.ro two pages, each written by the loader in
// every login (doc/DESIGN.md §7). Its setter and getter are found by
// `index`, its place in Keys(); copies of an entry are the same key.
struct KeyDef {
  char section[12];
  char name[32];
  KeyType type;
  uint8_t index;
  int64_t min;  // For integers (and each element of an integer list).
  int64_t max;
  // Stores an already type- and range-checked value. Returns false with
  // *err set for values that only the key itself can judge (enum names,
  // CIDRs, paths).
  bool Set(Config* cfg, const Value& v, std::string* err) const;
  // Reads the key back from `cfg` as a value Set accepts; false when the
  // key is unset (an optional key that follows its derived default).
  bool Get(const Config& cfg, Value* v) const;
};

// All keys, in the order of doc/DESIGN.md §11.
std::span<const KeyDef> Keys();

// Returns the key or nullptr.
const KeyDef* FindKey(std::string_view section, std::string_view name);

// Checks type and range of `v` for `key` and stores it. On error *err holds
// "SECTION.KEY: reason".
bool SetKey(const KeyDef& key, const Value& v, Config* cfg, std::string* err);

// "expected an integer", "expected a boolean", ... as used in messages.
std::string Expected(KeyType type);

}  // namespace defender::config_internal

#endif  // PAM_DEFENDER_COMMON_CONFIG_KEYS_H_
