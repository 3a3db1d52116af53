#include "common/normalize.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <utility>

namespace defender {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
         c == '\f';
}

// What a terminal shows as blank space and EscapeForDisplay keeps: Unicode
// category Zs, and U+2800 BRAILLE PATTERN BLANK (a symbol, drawn empty).
bool IsBlank(char32_t cp) {
  return cp == 0x20 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F ||
         cp == 0x2800 || cp == 0x3000;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid;
// sets *cp to its code point when valid.
size_t Utf8SequenceLength(std::string_view s, size_t i, char32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t c = b(0);
  size_t len;
  uint32_t min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
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
  uint32_t v = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

// Inclusive ranges of hidden code points (see IsHiddenCodePoint), sorted:
// the controls, every format character (Cf) and every
// Default_Ignorable_Code_Point of Unicode 15.0 (DerivedCoreProperties.txt).
constexpr std::pair<char32_t, char32_t> kHidden[] = {
    {0x0000, 0x001F},   {0x007F, 0x009F},   {0x00AD, 0x00AD},
    {0x034F, 0x034F},   {0x0600, 0x0605},   {0x061C, 0x061C},
    {0x06DD, 0x06DD},   {0x070F, 0x070F},   {0x0890, 0x0891},
    {0x08E2, 0x08E2},   {0x115F, 0x1160},   {0x17B4, 0x17B5},
    {0x180B, 0x180F},   {0x200B, 0x200F},   {0x2028, 0x202E},
    {0x2060, 0x206F},   {0x3164, 0x3164},   {0xFE00, 0xFE0F},
    {0xFEFF, 0xFEFF},   {0xFFA0, 0xFFA0},   {0xFFF0, 0xFFFB},
    {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x1343F},
    {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0000, 0xE0FFF},
};

// What Escape writes as "%XX" beyond what it always escapes: a set of
// these bits.
enum EscapeAlso : unsigned {
  kNothingMore = 0,
  kPercent = 1,     // '%' (EscapeText, EscapeHostName).
  kAtAndSlash = 2,  // '@' and '/' (EscapeHostName).
};

// Inlined: the run loop below calls it for every byte of every login's
// names (the module is built for size, which would not inline it).
[[gnu::always_inline]] constexpr bool EscapesAscii(unsigned char c,
                                                   unsigned also) {
  return (c == '%' && (also & kPercent)) ||
         ((c == '@' || c == '/') && (also & kAtAndSlash));
}

// EscapeText, EscapeHostName and EscapeForDisplay: `also` is their one
// difference.
std::string Escape(std::string_view raw, size_t max_bytes, unsigned also) {
  std::string out;
  out.reserve(std::min(raw.size(), max_bytes));
  size_t i = 0;
  while (i < raw.size()) {
    // Printable ASCII, the common case, in runs: no code point to decode
    // and none of it hidden.
    size_t run = i;
    while (run < raw.size()) {
      const auto c = static_cast<unsigned char>(raw[run]);
      if (c < 0x20 || c >= 0x7F || EscapesAscii(c, also)) break;
      ++run;
    }
    if (run > i) {
      const size_t room = max_bytes - out.size();  // out never exceeds it.
      if (run - i > room) {                        // Cut at max_bytes.
        out.append(raw.substr(i, room));
        break;
      }
      out.append(raw.substr(i, run - i));
      i = run;
      continue;
    }
    char32_t cp = 0;
    const size_t len = Utf8SequenceLength(raw, i, &cp);
    const bool escape = len == 0 || IsHiddenCodePoint(cp) ||
                        (cp < 0x80 && EscapesAscii(cp, also));
    // An invalid sequence is escaped one byte at a time; a hidden code
    // point as a whole, so that the cut below never splits it.
    const std::string_view unit = raw.substr(i, len == 0 ? 1 : len);
    if (out.size() + (escape ? 3 : 1) * unit.size() > max_bytes) break;
    if (escape) {
      AppendPercent(unit, &out);
    } else {
      out.append(unit);
    }
    i += unit.size();
  }
  return out;
}

}  // namespace

void AppendPercent(std::string_view bytes, std::string* out) {
  for (const char ch : bytes) {
    const auto c = static_cast<uint8_t>(ch);
    *out += '%';
    *out += kHex[c >> 4];
    *out += kHex[c & 0xF];
  }
}

bool IsHiddenCodePoint(char32_t cp) {
  const auto* it =
      std::upper_bound(std::begin(kHidden), std::end(kHidden), cp,
                       [](char32_t v, const auto& r) { return v < r.first; });
  return it != std::begin(kHidden) && cp <= std::prev(it)->second;
}

bool IsValidUtf8(std::string_view text) {
  char32_t cp;
  for (size_t i = 0; i < text.size();) {
    const size_t len = Utf8SequenceLength(text, i, &cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string EscapeText(std::string_view raw, size_t max_bytes) {
  return Escape(raw, max_bytes, kPercent);
}

std::string EscapeForDisplay(std::string_view text) {
  return Escape(text, std::string::npos, kNothingMore);
}

std::string EscapeHostName(std::string_view raw, size_t max_bytes) {
  return Escape(raw, max_bytes, kPercent | kAtAndSlash);
}

std::string DisplayName(std::string_view name) {
  const std::string shown = EscapeForDisplay(name);  // Valid UTF-8.
  std::string out;
  out.reserve(shown.size());
  for (size_t i = 0; i < shown.size();) {
    char32_t cp = 0;
    const size_t len = std::max<size_t>(1, DecodeUtf8(shown, i, &cp));
    if (IsBlank(cp)) {
      AppendPercent(std::string_view(shown).substr(i, len), &out);
    } else {
      out.append(shown, i, len);
    }
    i += len;
  }
  return out;
}

std::string EscapeJsonHidden(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  const auto u = [&](char32_t unit) {
    char buf[16];
    snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(unit));
    out += buf;
  };
  for (size_t i = 0; i < json.size();) {
    char32_t cp = 0;
    const size_t len = Utf8SequenceLength(json, i, &cp);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD: JSON text cannot hold the byte.
      ++i;
      continue;
    }
    if (cp < 0x20 || !IsHiddenCodePoint(cp)) {
      out.append(json.substr(i, len));
    } else if (cp < 0x10000) {
      u(cp);
    } else {  // A UTF-16 surrogate pair, as JSON spells it.
      u(0xD800 + ((cp - 0x10000) >> 10));
      u(0xDC00 + ((cp - 0x10000) & 0x3FF));
    }
    i += len;
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
  char* zone = strchr(buf, '%');
  if (zone != nullptr) *zone++ = '\0';
  if (strchr(buf, ':') == nullptr ||
      inet_pton(AF_INET6, buf, ip.bytes.data()) != 1) {
    return std::nullopt;
  }
  // A zone names the interface of a link-local address (sshd gives
  // "fe80::1%eth0"). On any other address, or made of other characters, it
  // makes the text a name: "::ffff:10.0.0.1%x.example" must not pass for
  // 10.0.0.1 (an allow-listed address, say).
  if (zone != nullptr) {
    const size_t len = strlen(zone);
    const bool link_local = ip.bytes[0] == 0xFE && (ip.bytes[1] & 0xC0) == 0x80;
    if (!link_local || len == 0 || len > 15 ||
        strspn(zone,
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
               "0123456789._-") != len) {
      return std::nullopt;
    }
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
  return Host{EscapeHostName(lower, kMaxSubjectBytes), std::nullopt};
}

size_t DecodeUtf8(std::string_view s, size_t i, char32_t* cp) {
  return Utf8SequenceLength(s, i, cp);
}

}  // namespace defender
