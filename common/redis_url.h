// Where a Redis server is and how to log in to it: the `[redis]` url forms
//   redis://[user[:password]@]host[:port][/db]
//   unix:///path/to/redis.sock[?db=N]
// and the password_file that may hold the password instead of the URL.
#ifndef PAM_DEFENDER_COMMON_REDIS_URL_H_
#define PAM_DEFENDER_COMMON_REDIS_URL_H_

#include <string>
#include <string_view>

namespace defender {

struct RedisAddress {
  bool unix_socket = false;
  std::string host;  // TCP: name or address, without IPv6 brackets.
  int port = 6379;
  std::string path;      // unix: the socket path.
  std::string user;      // Redis 6 ACL user; empty: the default user.
  std::string password;  // Empty: no AUTH.
  int db = 0;
};

// Parses `url`. user and password are percent-decoded (so "%40" is "@");
// an IPv6 host is written in brackets ("redis://[::1]:6379"). Returns false
// with *err naming what is wrong (the URL in it redacted by RedactUrl);
// never throws.
bool ParseRedisUrl(std::string_view url, RedisAddress* out, std::string* err);

// The value of the hex digit `c` (upper case only if `upper_only`), or -1.
int HexDigit(char c, bool upper_only = false);

// Decodes the "%XX" escapes of `in` into *out. Every other byte stands for
// itself, if `literal_ok` (when given) accepts it; `upper_only` accepts only
// upper-case hex digits. Returns false on a cut or malformed escape or a
// refused byte.
bool PercentDecode(std::string_view in, std::string* out,
                   bool (*literal_ok)(unsigned char) = nullptr,
                   bool upper_only = false);

// `url` with the password of its user information replaced by "****"
// ("redis://user:****@host:6379/0"); URLs without one are returned as is.
// Every message that shows a Redis URL shows it through this.
std::string RedactUrl(std::string_view url);

// Parses "host:port" or "[v6]:port" (a Sentinel address; port defaults to
// 26379). The host must pass IsValidRedisHost; text with an '@' (a user or
// password, as in "redis://:pw@host") is refused. Errors quote `text`
// through ShowHostPort, so never what precedes an '@'.
bool ParseHostPort(std::string_view text, int default_port, std::string* host,
                   int* port, std::string* err);

// True when `host` is an IPv4 or IPv6 address literal (no brackets) or a
// host name of 1-253 characters from [A-Za-z0-9.-]: what a Redis host (in
// the config or named by a Sentinel) may be.
bool IsValidRedisHost(std::string_view host);

// `text` as a message may quote it: everything up to its last '@' replaced
// by "****" and the rest passed through EscapeForDisplay (normalize.h).
std::string ShowHostPort(std::string_view text);

// Reads the password from `path`: it must be a regular file (not a symlink)
// owned by root with no permission bits for group or others (0600 or
// 0400), at most 4 KiB. The first line is the password (trailing "\r\n"
// stripped). Returns false with *err naming the file and the reason.
bool ReadPasswordFile(const std::string& path, std::string* password,
                      std::string* err);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_REDIS_URL_H_
