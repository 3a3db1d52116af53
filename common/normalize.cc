#include "common/normalize.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace defender {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t c = b(0);
  size_t len;
  uint32_t min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  uint32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string EscapeText(std::string_view raw, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(raw.size(), max_bytes));
  size_t i = 0;
  while (i < raw.size()) {
    const uint8_t c = static_cast<uint8_t>(raw[i]);
    const size_t len = Utf8SequenceLength(raw, i);
    const bool escape = len == 0 || c < 0x20 || c == 0x7F || c == '%';
    if (escape) {
      if (out.size() + 3 > max_bytes) break;
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
      ++i;
    } else {
      if (out.size() + len > max_bytes) break;
      out.append(raw.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::optional<std::string> NormalizeUser(std::string_view raw, bool fold_case) {
  std::string_view trimmed = Trim(raw);
  if (trimmed.empty()) return std::nullopt;
  std::string folded;
  if (fold_case) {
    folded.assign(trimmed.substr(0, 4 * kMaxSubjectBytes));
    for (char& c : folded) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    trimmed = folded;
  }
  return EscapeText(trimmed, kMaxSubjectBytes);
}

std::optional<IpAddress> ParseIp(std::string_view text) {
  // Long enough for any IPv6 text with an IPv4 tail; zones are dropped.
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() > 64) return std::nullopt;
  char buf[65];
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  IpAddress ip;
  if (inet_pton(AF_INET, buf, ip.bytes.data()) == 1) return ip;
  if (char* zone = strchr(buf, '%')) *zone = '\0';
  if (strchr(buf, ':') == nullptr ||
      inet_pton(AF_INET6, buf, ip.bytes.data()) != 1) {
    return std::nullopt;
  }
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0,    0,
                                          0, 0, 0, 0, 0xFF, 0xFF};
  if (std::equal(kMapped, kMapped + 12, ip.bytes.begin())) {
    std::copy(ip.bytes.begin() + 12, ip.bytes.end(), ip.bytes.begin());
    std::fill(ip.bytes.begin() + 4, ip.bytes.end(), 0);
    return ip;
  }
  ip.v6 = true;
  return ip;
}

std::string FormatIp(const IpAddress& ip) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.bytes.data(), buf, sizeof(buf));
  return buf;
}

namespace {

IpAddress Masked(IpAddress ip, int prefix) {
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(prefix - 8 * i, 0, 8);
    ip.bytes[i] &= static_cast<uint8_t>(0xFF00 >> keep);
  }
  return ip;
}

}  // namespace

bool Cidr::Contains(const IpAddress& ip) const {
  return ip.v6 == base.v6 && Masked(ip, prefix) == base;
}

std::string Cidr::ToString() const {
  return FormatIp(base) + "/" + std::to_string(prefix);
}

std::optional<Cidr> ParseCidr(std::string_view text, std::string* err) {
  const size_t slash = text.find('/');
  std::optional<IpAddress> ip = ParseIp(text.substr(0, slash));
  if (!ip) {
    *err = "not an IPv4 or IPv6 address or network: \"" + EscapeText(text, 80) +
           "\"";
    return std::nullopt;
  }
  int prefix = ip->bits();
  if (slash != std::string_view::npos) {
    std::string_view bits = text.substr(slash + 1);
    auto [end, ec] =
        std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    if (bits.empty() || ec != std::errc() || end != bits.data() + bits.size() ||
        prefix < 0 || prefix > ip->bits()) {
      *err = "bad prefix length in \"" + EscapeText(text, 80) + "\" (0-" +
             std::to_string(ip->bits()) + ")";
      return std::nullopt;
    }
  }
  return Cidr{Masked(*ip, prefix), prefix};
}

std::optional<Host> NormalizeHost(std::string_view raw, int ipv6_prefix) {
  std::string_view trimmed = Trim(raw);
  if (trimmed.empty()) return std::nullopt;
  if (std::optional<IpAddress> ip = ParseIp(trimmed)) {
    if (!ip->v6) return Host{FormatIp(*ip), ip};
    if (ipv6_prefix >= 128) return Host{FormatIp(*ip), ip};
    return Host{Cidr{Masked(*ip, ipv6_prefix), ipv6_prefix}.ToString(), ip};
  }
  std::string lower(trimmed.substr(0, 4 * kMaxSubjectBytes));
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return Host{EscapeText(lower, kMaxSubjectBytes), std::nullopt};
}

}  // namespace defender
