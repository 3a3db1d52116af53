// Normalisation of PAM_USER and PAM_RHOST into subjects, and CIDR matching.
//
// Every function here accepts arbitrary bytes of any length and never fails
// by crashing: the worst input yields a bounded, printable subject or none.
#ifndef PAM_DEFENDER_COMMON_NORMALIZE_H_
#define PAM_DEFENDER_COMMON_NORMALIZE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace defender {

// Longest subject kept, in bytes. Real user names are at most 32 bytes and
// DNS names at most 253; anything longer is cut here (and so still counted).
inline constexpr size_t kMaxSubjectBytes = 256;

// Hidden code points are those that must never reach a person, a log or a
// hook unescaped, because a terminal or a text viewer acts on them or shows
// nothing for them: C0 controls (U+0000-U+001F, so also tab and newline),
// DEL, C1 controls (U+0080-U+009F), the soft hyphen U+00AD, the bidi
// controls (U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069), the line and
// paragraph separators U+2028/U+2029, every other invisible format
// character (Unicode category Cf: U+200B-U+200D, U+2060-U+2064,
// U+206A-U+206F, U+FEFF, U+FFF9-U+FFFB, the tags U+E0001 and
// U+E0020-U+E007F, ...) and every other Default_Ignorable_Code_Point
// (Unicode 15.0): the combining grapheme joiner U+034F, the Hangul fillers
// (U+115F, U+1160, U+3164, U+FFA0), the Khmer inherent vowels U+17B4/5, the
// Mongolian free variation selectors (U+180B-U+180D, U+180F), the variation
// selectors (U+FE00-U+FE0F, U+E0100-U+E01EF) and the reserved U+2065,
// U+FFF0-U+FFF8 and U+E0000-U+E0FFF. Everything else, e.g. "é" or "日本", is
// shown as it is.
bool IsHiddenCodePoint(char32_t cp);

// Returns `raw` with every byte of an invalid UTF-8 sequence (also overlong
// forms, UTF-8-encoded surrogates and anything above U+10FFFF), every byte of
// a hidden code point (see above), and '%' replaced by "%XX" (upper-case
// hex), cut to at most `max_bytes` without splitting an escape or a UTF-8
// sequence. The result is valid UTF-8 with no hidden code point, and the
// mapping is one to one (before the cut): this is how user names, host names,
// services and ttys become subjects and attempt-log fields.
std::string EscapeText(std::string_view raw, size_t max_bytes);

// EscapeText, and '@' and '/' written "%40" and "%2F" too: how a host name
// (not an address) becomes a subject. A name then never reads as a
// network ("2001:db8::/64", which the firewall would drop) nor splits a
// pair subject (user@host, split at its last '@') anywhere but between its
// user and its host.
std::string EscapeHostName(std::string_view raw, size_t max_bytes);

// Appends each byte of `bytes` to *out as "%XX" (upper-case hex): the
// escape EscapeText and EscapeForDisplay write.
void AppendPercent(std::string_view bytes, std::string* out);

// THE escaping for everything a person or a program reads as text: terminal
// output (tables, messages), syslog lines and hook environments. As
// EscapeText, but '%' is kept and nothing is cut, so that a subject made by
// EscapeText prints exactly as it is stored (EscapeForDisplay(EscapeText(x,
// n)) == EscapeText(x, n)) and EscapeForDisplay is idempotent. Text that
// did not come from EscapeText (a key planted in Redis, an error reply from
// the server) is therefore shown with a "%XX" that may also be literal; the
// guarantee is only that the output is valid UTF-8 with no hidden code point.
std::string EscapeForDisplay(std::string_view text);

// A name as a table cell or a log line shows it: a user, host, tty or
// service name, or a subject made of them, all of which an attacker may
// choose. EscapeForDisplay, and also every blank (Unicode category Zs:
// U+0020, U+00A0, U+1680, U+2000-U+200A, U+202F, U+205F, U+3000; and
// U+2800 BRAILLE PATTERN BLANK, which fonts draw empty) as "%XX"
// (" " as "%20"), so that a name is one word and ends where its field ends:
// "bob from 198.51.100.9" would otherwise read, in "refused user U from H",
// as user bob refused from that host, and in a table as more than one
// cell. Real user and host names hold no blank and are unchanged.
std::string DisplayName(std::string_view name);

// For JSON text as a serializer writes it (control characters inside strings
// already escaped, invalid UTF-8 possible): every hidden code point at or
// above U+007F is written as "\uXXXX" (a surrogate pair above U+FFFF) and
// every byte of an invalid UTF-8 sequence becomes U+FFFD. Hidden code points
// only occur inside strings, so the result is still the same JSON, valid
// UTF-8, with no hidden code point but the serializer's own whitespace.
std::string EscapeJsonHidden(std::string_view json);

// Length of the valid UTF-8 sequence starting at s[i] (i < s.size()), or 0
// if invalid; sets *cp to its code point when valid.
size_t DecodeUtf8(std::string_view s, size_t i, char32_t* cp);

// True when `text` is valid UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF).
bool IsValidUtf8(std::string_view text);

// The user subject for PAM_USER: surrounding ASCII whitespace stripped,
// ASCII letters lower-cased when `fold_case`, then EscapeText(...,
// kMaxSubjectBytes). Returns nullopt when nothing is left (no user subject).
std::optional<std::string> NormalizeUser(std::string_view raw, bool fold_case);

// An IPv4 or IPv6 address in network byte order.
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4.

  int bits() const { return v6 ? 128 : 32; }
  bool operator==(const IpAddress&) const = default;
};

// Parses an IP literal. Accepts dotted-quad IPv4 and any RFC 4291 IPv6 text,
// optionally in brackets and with a "%zone" suffix (dropped). An IPv4-mapped
// IPv6 address (::ffff:a.b.c.d) yields the IPv4 address.
std::optional<IpAddress> ParseIp(std::string_view text);

// Canonical text: dotted quad, or RFC 5952 (lower case, longest zero run
// compressed).
std::string FormatIp(const IpAddress& ip);

// A network: address with all bits past `prefix` cleared.
struct Cidr {
  IpAddress base;
  int prefix = 0;

  bool Contains(const IpAddress& ip) const;
  std::string ToString() const;  // "10.0.0.0/8", "2001:db8::/32"
};

// Parses "ADDR" (a single host) or "ADDR/BITS". Host bits set in ADDR are
// cleared. On error returns nullopt and sets *err to the reason.
std::optional<Cidr> ParseCidr(std::string_view text, std::string* err);

struct Host {
  std::string subject;          // The host subject.
  std::optional<IpAddress> ip;  // The full address when `raw` was an IP.
};

// The host subject for PAM_RHOST. IP literals are printed canonically; IPv6
// addresses are grouped into their /`ipv6_prefix` network, printed as
// "2001:db8:1:2::/64" (no suffix when ipv6_prefix is 128). Anything else is
// treated as a host name: surrounding whitespace stripped, lower-cased and
// passed through EscapeHostName(..., kMaxSubjectBytes). Returns nullopt when
// nothing is left (no host subject: a local login).
std::optional<Host> NormalizeHost(std::string_view raw, int ipv6_prefix);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_NORMALIZE_H_
