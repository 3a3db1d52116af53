// The hostile PAM_USER / PAM_RHOST values shared by the hostile-input tests
// of the local and the Redis store, each with the subject names that
// normalize.h must turn it into.
#ifndef PAM_DEFENDER_TESTS_HARDENING_HOSTILE_CASES_H_
#define PAM_DEFENDER_TESTS_HARDENING_HOSTILE_CASES_H_

#include <optional>
#include <string>
#include <vector>

namespace hardening {

struct Case {
  const char* name;
  std::optional<std::string> user;  // nullopt: asked by the conversation.
  std::string prompted_user;
  std::string rhost;
  std::optional<std::string> want_user;  // nullopt: no user subject.
  std::optional<std::string> want_host;  // nullopt: no host subject.
};

inline std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

inline const std::string kRedisFrame =
    "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";

inline std::vector<Case> Cases() {
  return {
      {"100 kB user name", std::string(100'000, 'A'), "", "192.0.2.1",
       std::string(256, 'A'), "192.0.2.1"},
      {"newline in user name", "eve\nroot", "", "192.0.2.1", "eve%0Aroot",
       "192.0.2.1"},
      {"control bytes and escape sequences", "\x01\x02\x1b[31mred\x7f", "",
       "192.0.2.1", "%01%02%1B[31mred%7F", "192.0.2.1"},
      {"invalid UTF-8", "\xff\xfe\xc3(\xed\xa0\x80", "", "192.0.2.1",
       "%FF%FE%C3(%ED%A0%80", "192.0.2.1"},
      {"percent sign is escaped too", "50%", "", "192.0.2.1", "50%25",
       "192.0.2.1"},
      {"multi-byte UTF-8 cut on a character boundary", Repeat("\xc3\xa9", 200),
       "", "192.0.2.1", Repeat("\xc3\xa9", 128), "192.0.2.1"},
      {"Redis protocol in the user name", kRedisFrame, "", "192.0.2.1",
       "*3%0D%0A$3%0D%0ASET%0D%0A$1%0D%0Ak%0D%0A$1%0D%0Av", "192.0.2.1"},
      {"user asked by the conversation", std::nullopt, "mallory\x1b\n",
       "192.0.2.1", "mallory%1B", "192.0.2.1"},
      {"empty user", "", "", "192.0.2.1", std::nullopt, "192.0.2.1"},
      {"shell metacharacters in rhost", "alice", "",
       "; rm -rf / #$(reboot)`id`|&>x", "alice",
       "; rm -rf %2F #$(reboot)`id`|&>x"},  // '/' escaped in host names.
      {"CR/LF in rhost", "alice", "", "evil.example\r\nSet-Cookie: x", "alice",
       "evil.example%0D%0Aset-cookie: x"},
      {"Redis protocol in rhost", "alice", "", kRedisFrame, "alice",
       "*3%0D%0A$3%0D%0Aset%0D%0A$1%0D%0Ak%0D%0A$1%0D%0Av"},
      {"Redis key separators and globs in rhost", "alice", "",
       "defender:user:alice*{x}?", "alice", "defender:user:alice*{x}?"},
      {"5000-character rhost", "alice", "", std::string(5000, 'h'), "alice",
       std::string(256, 'h')},
      {"5000 invalid bytes in rhost", "alice", "", std::string(5000, '\xff'),
       "alice", Repeat("%FF", 85)},
      {"empty rhost", "alice", "", "", "alice", std::nullopt},
      {"IPv4-mapped IPv6 rhost", "alice", "", "::FFFF:198.51.100.9", "alice",
       "198.51.100.9"},
      {"link-local IPv6 with zone", "alice", "", "FE80::1%eth0", "alice",
       "fe80::/64"},
      // A zone only on a link-local address: anything else with a '%' is
      // a name ('%' escaped), never the address it starts with.
      {"global IPv6 with zone", "alice", "", "2001:DB8:0:0:1::1%eth0", "alice",
       "2001:db8:0:0:1::1%25eth0"},
      {"IPv4-mapped with a zone", "alice", "", "::ffff:10.0.0.1%x.example",
       "alice", "::ffff:10.0.0.1%25x.example"},
  };
}

}  // namespace hardening

#endif  // PAM_DEFENDER_TESTS_HARDENING_HOSTILE_CASES_H_
