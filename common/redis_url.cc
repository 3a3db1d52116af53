#include "common/redis_url.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/lazy_libc.h"
#include "common/normalize.h"

namespace defender {
namespace {

bool ParseInt(std::string_view s, int min, int max, int* out) {
  int v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < min ||
      v > max) {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

int HexDigit(char c, bool upper_only) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f' && !upper_only) return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PercentDecode(std::string_view in, std::string* out,
                   bool (*literal_ok)(unsigned char), bool upper_only) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      if (literal_ok && !literal_ok(static_cast<unsigned char>(in[i]))) {
        return false;
      }
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = HexDigit(in[i + 1], upper_only);
    const int lo = HexDigit(in[i + 2], upper_only);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

std::string RedactUrl(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  const size_t start = scheme + 3;
  // The last '@': a password may hold an unescaped '@' (or '/'), and
  // hiding too much is the safe side.
  const size_t at = url.rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(url);
  const size_t colon = url.find(':', start);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "****" +
         std::string(url.substr(at));
}

bool IsValidRedisHost(std::string_view host) {
  const std::string h(host);
  unsigned char addr[sizeof(in6_addr)];
  if (inet_pton(AF_INET, h.c_str(), addr) == 1 ||
      inet_pton(AF_INET6, h.c_str(), addr) == 1) {
    return true;
  }
  if (host.empty() || host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '-';
  });
}

std::string ShowHostPort(std::string_view text) {
  const size_t at = text.rfind('@');
  if (at == std::string_view::npos) return EscapeForDisplay(text);
  return "****" + EscapeForDisplay(text.substr(at));
}

bool ParseHostPort(std::string_view text, int default_port, std::string* host,
                   int* port, std::string* err) {
  const std::string quoted = "\"" + ShowHostPort(text) + "\"";
  if (text.find('@') != std::string_view::npos) {
    *err = "must be host:port, without a user or password: " + quoted;
    return false;
  }
  if (text.find("://") != std::string_view::npos) {
    *err = "must be host:port, not a URL: " + quoted;
    return false;
  }
  std::string_view rest;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close == 1) {
      *err = "bad IPv6 address in " + quoted;
      return false;
    }
    *host = std::string(text.substr(1, close - 1));
    rest = text.substr(close + 1);
    in6_addr v6;
    if (inet_pton(AF_INET6, host->c_str(), &v6) != 1) {
      *err = "bad IPv6 address in " + quoted;
      return false;
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon != std::string_view::npos &&
        text.find(':') != colon) {  // Bare IPv6 without brackets.
      *err = "IPv6 address must be in brackets: " + quoted;
      return false;
    }
    *host = std::string(text.substr(0, colon));
    rest = colon == std::string_view::npos ? "" : text.substr(colon);
  }
  if (host->empty()) {
    *err = "missing host in " + quoted;
    return false;
  }
  if (!IsValidRedisHost(*host)) {
    *err =
        "bad host (an address or a name of letters, digits, '.' and '-') "
        "in " +
        quoted;
    return false;
  }
  *port = default_port;
  if (rest.empty()) return true;
  if (rest[0] != ':' || !ParseInt(rest.substr(1), 1, 65535, port)) {
    *err = "bad port in " + quoted;
    return false;
  }
  return true;
}

bool ParseRedisUrl(std::string_view url, RedisAddress* out, std::string* err) {
  *out = RedisAddress{};
  const std::string quoted = "\"" + RedactUrl(url) + "\"";
  constexpr std::string_view kTcp = "redis://", kUnix = "unix://";
  if (url.substr(0, kUnix.size()) == kUnix) {
    out->unix_socket = true;
    std::string_view rest = url.substr(kUnix.size());
    const size_t q = rest.find('?');
    out->path = std::string(rest.substr(0, q));
    if (out->path.empty() || out->path[0] != '/') {
      *err = "unix socket URL needs an absolute path: " + quoted;
      return false;
    }
    if (out->path.size() >= sizeof(sockaddr_un::sun_path)) {
      *err = "unix socket path longer than " +
             std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
             " bytes: " + quoted;
      return false;
    }
    if (q != std::string_view::npos) {
      const std::string_view query = rest.substr(q + 1);
      if (query.substr(0, 3) != "db=" ||
          !ParseInt(query.substr(3), 0, 1'000'000, &out->db)) {
        *err = "only ?db=N is understood after a unix socket path: " + quoted;
        return false;
      }
    }
    return true;
  }
  if (url.substr(0, kTcp.size()) != kTcp) {
    *err = "must start with redis:// or unix://: " + quoted;
    return false;
  }
  std::string_view rest = url.substr(kTcp.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    if (!PercentDecode(userinfo.substr(0, colon), &out->user) ||
        (colon != std::string_view::npos &&
         !PercentDecode(userinfo.substr(colon + 1), &out->password))) {
      *err = "bad percent-encoding in the user or password of the URL";
      return false;
    }
  }
  if (!ParseHostPort(authority, 6379, &out->host, &out->port, err)) {
    // ParseHostPort quotes what it was given, which is part of the password
    // when that holds an unescaped '/': quote the redacted URL instead.
    *err = "bad host or port in " + quoted;
    return false;
  }
  if (slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !ParseInt(db, 0, 1'000'000, &out->db)) {
      *err = "bad database number in " + quoted;
      return false;
    }
  }
  return true;
}

bool ReadPasswordFile(const std::string& path, std::string* password,
                      std::string* err) {
  // O_NONBLOCK: a FIFO put in its place (by whoever may write the
  // directory) is opened at once and refused below, instead of holding the
  // login in open() until someone writes to it.
  const int fd = open(
      path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    *err = "redis.password_file " + path + ": " + lazy::strerror(errno);
    return false;
  }
  struct stat st;
  std::string reason;
  if (fstat(fd, &st) != 0) {
    reason = lazy::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    reason = "not a regular file";
  } else if (st.st_uid != 0) {
    reason = "must be owned by root";
  } else if ((st.st_mode & 077) != 0) {
    reason = "must not be readable or writable by group or others (chmod 600)";
  } else if (st.st_size > 4096) {
    reason = "larger than 4 KiB";
  }
  std::string text;
  if (reason.empty()) {
    char buf[4097];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0 && text.size() <= 4096) {
      text.append(buf, static_cast<size_t>(n));
    }
    if (n < 0) reason = lazy::strerror(errno);
  }
  close(fd);
  if (!reason.empty()) {
    *err = "redis.password_file " + path + ": " + reason;
    return false;
  }
  const size_t eol = text.find_first_of("\r\n");
  if (eol != std::string::npos) text.resize(eol);
  if (text.empty()) {
    *err = "redis.password_file " + path + ": empty";
    return false;
  }
  *password = std::move(text);
  return true;
}

}  // namespace defender
