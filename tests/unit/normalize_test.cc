#include "common/normalize.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <random>
#include <string>
#include <utility>

namespace defender {
namespace {

std::string HostOf(std::string_view raw, int prefix = 64) {
  auto h = NormalizeHost(raw, prefix);
  return h ? h->subject : "<none>";
}

TEST_CASE("IPv4 literals are canonical") {
  CHECK(HostOf("192.0.2.7") == "192.0.2.7");
  CHECK(HostOf("  192.0.2.7\n") == "192.0.2.7");
  auto h = NormalizeHost("192.0.2.7", 64);
  REQUIRE(h->ip.has_value());
  CHECK_FALSE(h->ip->v6);
}

TEST_CASE("IPv4-mapped IPv6 becomes the IPv4 address") {
  CHECK(HostOf("::ffff:10.0.0.1") == "10.0.0.1");
  CHECK(HostOf("::FFFF:10.0.0.1") == "10.0.0.1");
  CHECK(HostOf("::ffff:a00:1") == "10.0.0.1");
}

TEST_CASE("IPv6 is printed per RFC 5952 and grouped by ipv6_prefix") {
  CHECK(HostOf("2001:0DB8:0001:0002:0000:0000:0000:0007", 128) ==
        "2001:db8:1:2::7");
  CHECK(HostOf("2001:db8:0:0:1:0:0:1", 128) == "2001:db8::1:0:0:1");
  CHECK(HostOf("2001:db8:1:2::7") == "2001:db8:1:2::/64");
  CHECK(HostOf("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64");
  CHECK(HostOf("2001:db8:1:2::7", 48) == "2001:db8:1::/48");
  CHECK(HostOf("[2001:db8::1]", 128) == "2001:db8::1");
  CHECK(HostOf("fe80::1%eth0", 128) == "fe80::1");
  CHECK(HostOf("::1", 128) == "::1");
  auto h = NormalizeHost("2001:db8:1:2::7", 64);
  REQUIRE(h->ip.has_value());
  CHECK(FormatIp(*h->ip) == "2001:db8:1:2::7");  // Full address kept.
}

TEST_CASE("a zone only on a link-local address, else the text is a name") {
  CHECK(HostOf("fe80::1%eth0", 128) == "fe80::1");
  CHECK(HostOf("FE80::1%enp0s31f6.100", 128) == "fe80::1");
  CHECK(HostOf("fe80::1%2", 128) == "fe80::1");
  // A name that would pass for an (allow-listed) address.
  // ('%' is escaped in a subject, as %25.)
  CHECK(HostOf("::ffff:10.0.0.1%x.evil.example") ==
        "::ffff:10.0.0.1%25x.evil.example");
  CHECK_FALSE(NormalizeHost("::ffff:10.0.0.1%x", 64)->ip.has_value());
  CHECK(HostOf("2001:db8::1%eth0") == "2001:db8::1%25eth0");
  CHECK(HostOf("fe80::1%") == "fe80::1%25");
  CHECK(HostOf("fe80::1%eth0 x") == "fe80::1%25eth0 x");
  CHECK(HostOf("fe80::1%abcdefghijklmnop") == "fe80::1%25abcdefghijklmnop");
  CHECK_FALSE(ParseIp("10.0.0.1%eth0").has_value());
}

TEST_CASE("host names are lower-cased; control characters escaped") {
  CHECK(HostOf("Attacker.Example.COM") == "attacker.example.com");
  CHECK(HostOf("evil\r\nhost") == "evil%0D%0Ahost");
  CHECK(HostOf("a;rm -rf /") == "a;rm -rf %2F");
  // '@' and '/' escaped: a name never splits a pair (user@host, at its
  // last '@') elsewhere, nor reads as a network.
  CHECK(HostOf("root@198.51.100.9") == "root%40198.51.100.9");
  CHECK(HostOf("2001:db8::/64") == "2001:db8::%2F64");
  CHECK_FALSE(NormalizeHost("2001:db8::/64", 64)->ip.has_value());
  CHECK(HostOf("10.0.0.0/8") == "10.0.0.0%2F8");
  // Users keep them (alice@example.com logs in as that).
  CHECK(*NormalizeUser("alice@example.com", false) == "alice@example.com");
  CHECK(HostOf("*3\r\n$3\r\nSET") == "*3%0D%0A$3%0D%0Aset");
  CHECK(HostOf("") == "<none>");
  CHECK(HostOf("   ") == "<none>");
  CHECK(HostOf("300.1.1.1") == "300.1.1.1");  // Not an IP: a name.
  CHECK_FALSE(NormalizeHost("300.1.1.1", 64)->ip.has_value());
}

TEST_CASE("100 kB of input yields a bounded subject") {
  const std::string huge(100 * 1024, 'A');
  CHECK(HostOf(huge).size() == kMaxSubjectBytes);
  CHECK(NormalizeUser(huge, false)->size() == kMaxSubjectBytes);
  const std::string ctl(100 * 1024, '\x01');
  const std::string user = *NormalizeUser(ctl, false);
  CHECK(user.size() == 255);  // 85 escapes of 3 bytes; none is split.
  CHECK(user.substr(0, 6) == "%01%01");
}

TEST_CASE("user names: whitespace stripped, case kept unless folded") {
  CHECK(*NormalizeUser("  Alice\t", false) == "Alice");
  CHECK(*NormalizeUser("  Alice\t", true) == "alice");
  CHECK(*NormalizeUser("j doe", false) == "j doe");
  CHECK_FALSE(NormalizeUser("", false).has_value());
  CHECK_FALSE(NormalizeUser(" \n ", false).has_value());
}

TEST_CASE("EscapeText keeps valid UTF-8 and escapes the rest") {
  CHECK(EscapeText("jos\xC3\xA9", 100) == "jos\xC3\xA9");
  CHECK(EscapeText("a\xFF"
                   "b",
                   100) == "a%FFb");
  CHECK(EscapeText("\xC3", 100) == "%C3");                // Truncated sequence.
  CHECK(EscapeText("\xC0\xAF", 100) == "%C0%AF");         // Overlong.
  CHECK(EscapeText("\xED\xA0\x80", 100) == "%ED%A0%80");  // Surrogate.
  CHECK(EscapeText("100%", 100) == "100%25");
  CHECK(EscapeText("a\x7F", 100) == "a%7F");
  CHECK(EscapeText(std::string("a\0b", 3), 100) == "a%00b");
  CHECK(EscapeText("abc\xC3\xA9", 4) == "abc");  // Never splits.
  CHECK(EscapeText("ab\n", 4) == "ab");
}

// The escaping one code point at a time, as EscapeText did before it took
// printable ASCII in runs: the two must agree on every input and bound.
std::string EscapeOneByOne(std::string_view raw, size_t max_bytes,
                           bool escape_percent) {
  std::string out;
  for (size_t i = 0; i < raw.size();) {
    // The longest valid sequence here, if any (IsValidUtf8 judges).
    size_t len = 0;
    for (size_t n = 1; n <= 4 && i + n <= raw.size(); ++n) {
      if (IsValidUtf8(raw.substr(i, n))) {
        len = n;
        break;
      }
    }
    char32_t cp = 0;
    if (len == 1) {
      cp = static_cast<unsigned char>(raw[i]);
    } else if (len > 1) {
      cp = static_cast<unsigned char>(raw[i]) & (0x7F >> len);
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (raw[i + k] & 0x3F);
    }
    const bool escape =
        len == 0 || IsHiddenCodePoint(cp) || (escape_percent && cp == '%');
    const std::string_view unit = raw.substr(i, len == 0 ? 1 : len);
    if (out.size() + (escape ? 3 : 1) * unit.size() > max_bytes) break;
    for (const char c : unit) {
      if (escape) {
        char hex[4];
        snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
        out += hex;
      } else {
        out += c;
      }
    }
    i += unit.size();
  }
  return out;
}

TEST_CASE("escaping takes printable ASCII in runs and agrees byte for byte") {
  CHECK(EscapeText("abcdef", 4) == "abcd");  // A run cut at the bound.
  CHECK(EscapeText("ab%cd", 5) == "ab%25");
  CHECK(EscapeText("ab%cd", 4) == "ab");  // %25 does not fit: the cut.
  CHECK(EscapeForDisplay("ab%cd") == "ab%cd");
  CHECK(EscapeText("~\x7F", 10) == "~%7F");
  // Random inputs from an alphabet of every class: ASCII, '%', controls,
  // DEL, lone and valid multi-byte sequences, hidden code points.
  const std::string_view pieces[] = {"a",
                                     "Z",
                                     " ",
                                     "~",
                                     "%",
                                     "\t",
                                     "\x7F",
                                     "\x80",
                                     "\xC3",
                                     "\xFF",
                                     "\xC3\xA9",
                                     "\xE2\x80\xAE",
                                     "\xF0\x9F\x98\x80",
                                     "\xEF\xBB\xBF",
                                     "\xC2\x9B",
                                     "\xED\xA0\x80"};
  std::mt19937 rng(20261130);
  for (int n = 0; n < 20000; ++n) {
    std::string raw;
    const int len = static_cast<int>(rng() % 24);
    for (int k = 0; k < len; ++k) raw += pieces[rng() % std::size(pieces)];
    const size_t max_bytes = rng() % 3 == 0 ? std::string::npos : rng() % 40;
    INFO("input ", EscapeForDisplay(raw), " max ", max_bytes);
    CHECK(EscapeText(raw, max_bytes) == EscapeOneByOne(raw, max_bytes, true));
    if (max_bytes == std::string::npos) {
      CHECK(EscapeForDisplay(raw) == EscapeOneByOne(raw, max_bytes, false));
    }
  }
}

// Issue 10 finding 6: C1 controls, bidi overrides and invisible format
// characters passed the escaping and reached the terminal and syslog raw.
// Exact outputs for each class; EscapeText and EscapeForDisplay share them.
TEST_CASE("EscapeForDisplay escapes every hidden character class") {
  // C0, including tab and newline, and DEL.
  CHECK(EscapeForDisplay(std::string("a\0b", 3)) == "a%00b");
  CHECK(EscapeForDisplay("\x1B]0;x\x07") == "%1B]0;x%07");
  CHECK(EscapeForDisplay("a\tb\nc\rd") == "a%09b%0Ac%0Dd");
  CHECK(EscapeForDisplay("\x1F \x7F") == "%1F %7F");
  // C1 (U+0080-U+009F) as UTF-8: CSI, OSC, and both ends of the range.
  CHECK(EscapeForDisplay("x\xC2\x9B"
                         "2J") == "x%C2%9B2J");
  CHECK(EscapeForDisplay("\xC2\x9D"
                         "0;t\xC2\x9C") == "%C2%9D0;t%C2%9C");
  CHECK(EscapeForDisplay("\xC2\x80\xC2\x9F") == "%C2%80%C2%9F");
  CHECK(EscapeForDisplay("\xC2\xA0") == "\xC2\xA0");  // U+00A0 is shown.
  // Bidi controls U+202A-U+202E and U+2066-U+2069, and U+200E/F, U+061C.
  CHECK(EscapeForDisplay("\xE2\x80\xAA\xE2\x80\xAB\xE2\x80\xAC") ==
        "%E2%80%AA%E2%80%AB%E2%80%AC");
  CHECK(EscapeForDisplay("evil\xE2\x80\xAEtxt.exe") == "evil%E2%80%AEtxt.exe");
  CHECK(EscapeForDisplay("\xE2\x81\xA6\xE2\x81\xA7\xE2\x81\xA8\xE2\x81\xA9") ==
        "%E2%81%A6%E2%81%A7%E2%81%A8%E2%81%A9");
  CHECK(EscapeForDisplay("\xE2\x80\x8E\xE2\x80\x8F\xD8\x9C") ==
        "%E2%80%8E%E2%80%8F%D8%9C");
  // Zero-width and other invisible format characters, line separators.
  CHECK(EscapeForDisplay("a\xE2\x80\x8B"
                         "b") == "a%E2%80%8Bb");  // U+200B
  CHECK(EscapeForDisplay("\xE2\x80\x8C\xE2\x80\x8D") ==
        "%E2%80%8C%E2%80%8D");  // ZWNJ, ZWJ
  CHECK(EscapeForDisplay("\xE2\x80\xA8\xE2\x80\xA9") ==
        "%E2%80%A8%E2%80%A9");  // U+2028/9
  CHECK(EscapeForDisplay("\xE2\x81\xA0\xE2\x81\xA4") ==
        "%E2%81%A0%E2%81%A4");  // U+2060/4
  CHECK(EscapeForDisplay("\xEF\xBB\xBF"
                         "root") == "%EF%BB%BFroot");  // BOM
  CHECK(EscapeForDisplay("ro\xC2\xAD"
                         "ot") == "ro%C2%ADot");                  // Soft hyphen
  CHECK(EscapeForDisplay("\xF3\xA0\x80\x81") == "%F3%A0%80%81");  // U+E0001
  CHECK(EscapeForDisplay("\xE3\x85\xA4") == "%E3%85%A4");         // U+3164
  // Invalid UTF-8: stray and truncated bytes, overlong forms (also an
  // overlong ESC), UTF-8-encoded surrogates, above U+10FFFF.
  CHECK(EscapeForDisplay("a\xFF"
                         "b\x80") == "a%FFb%80");
  CHECK(EscapeForDisplay("\xE2\x80") == "%E2%80");
  CHECK(EscapeForDisplay("\xC0\x9B\xC1\xBF") == "%C0%9B%C1%BF");
  CHECK(EscapeForDisplay("\xE0\x82\x9B\xF0\x80\x80\xAF") ==
        "%E0%82%9B%F0%80%80%AF");
  CHECK(EscapeForDisplay("\xED\xA0\x80\xED\xBF\xBF") == "%ED%A0%80%ED%BF%BF");
  CHECK(EscapeForDisplay("\xF4\x90\x80\x80") == "%F4%90%80%80");
  // Ordinary text, '%' included, passes unchanged.
  CHECK(EscapeForDisplay("jos\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC") ==
        "jos\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC");
  CHECK(EscapeForDisplay("\xF0\x9F\x94\x92 100% a%1Bb") ==
        "\xF0\x9F\x94\x92 100% a%1Bb");
  CHECK(EscapeForDisplay("") == "");
}

TEST_CASE("EscapeText escapes the same classes, and '%'") {
  CHECK(EscapeText("x\xC2\x9B\xC2\x9D\xE2\x80\xAE%", 100) ==
        "x%C2%9B%C2%9D%E2%80%AE%25");
  CHECK(EscapeText("a\xE2\x80\x8B", 10) == "a%E2%80%8B");
  CHECK(EscapeText("a\xE2\x80\x8B"
                   "b",
                   10) == "a%E2%80%8B");
  CHECK(EscapeText("a\xE2\x80\x8B", 9) == "a");  // A code point is not split.
  CHECK(*NormalizeUser("x\xC2\x9B\xC2\x9D\xE2\x80\xAEy", false) ==
        "x%C2%9B%C2%9D%E2%80%AEy");
  CHECK(HostOf("h\xE2\x80\xAE.example") == "h%E2%80%AE.example");
  // A subject prints exactly as it is stored.
  const std::string subject = EscapeText("a%\x1B\xC2\x9B\xFF\xE6\x97\xA5", 100);
  CHECK(subject == "a%25%1B%C2%9B%FF\xE6\x97\xA5");
  CHECK(EscapeForDisplay(subject) == subject);
}

TEST_CASE("IsHiddenCodePoint: range ends") {
  for (char32_t cp :
       {0x00, 0x1F, 0x7F, 0x80, 0x9F, 0xAD, 0x200B, 0x200F, 0x2028, 0x202E,
        0x2060, 0x2064, 0x2066, 0x2069, 0xFEFF, 0xE0001, 0xE0020, 0xE007F}) {
    CAPTURE(static_cast<uint32_t>(cp));
    CHECK(IsHiddenCodePoint(cp));
  }
  for (char32_t cp :
       {0x20, 0x7E, 0xA0, 0xA9, 0xE9, 0x200A, 0x2010, 0x2027, 0x202F, 0x2070,
        0x65E5, 0xFEFE, 0xFF00, 0x1F512, 0xE1000, 0x10FFFF}) {
    CAPTURE(static_cast<uint32_t>(cp));
    CHECK_FALSE(IsHiddenCodePoint(cp));
  }
}

// A security review: Default_Ignorable_Code_Points outside category Cf
// (U+034F, variation selectors, ...) passed the escaping, so failed logins
// as "alice\u034F" or "ali\uFE0Fce" made rows that read exactly "alice".
// Every range of Unicode 15.0's DerivedCoreProperties.txt, both ends and
// the middle, and the code points just outside, which are shown.
TEST_CASE("IsHiddenCodePoint: every Default_Ignorable_Code_Point") {
  const std::pair<char32_t, char32_t> kIgnorable[] = {
      {0x00AD, 0x00AD},   {0x034F, 0x034F},   {0x061C, 0x061C},
      {0x115F, 0x1160},   {0x17B4, 0x17B5},   {0x180B, 0x180D},
      {0x180E, 0x180E},   {0x180F, 0x180F},   {0x200B, 0x200F},
      {0x202A, 0x202E},   {0x2060, 0x2064},   {0x2065, 0x2065},
      {0x2066, 0x206F},   {0x3164, 0x3164},   {0xFE00, 0xFE0F},
      {0xFEFF, 0xFEFF},   {0xFFA0, 0xFFA0},   {0xFFF0, 0xFFF8},
      {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0000, 0xE0000},
      {0xE0001, 0xE0001}, {0xE0002, 0xE001F}, {0xE0020, 0xE007F},
      {0xE0080, 0xE00FF}, {0xE0100, 0xE01EF}, {0xE01F0, 0xE0FFF},
  };
  for (const auto& [first, last] : kIgnorable) {
    const char32_t middle = first + (last - first) / 2;
    for (const char32_t cp : {first, middle, last}) {
      CAPTURE(static_cast<uint32_t>(cp));
      CHECK(IsHiddenCodePoint(cp));
    }
  }
  for (char32_t cp :
       {0x00AC,  0x00AE,  0x034E,  0x0350,  0x061B,  0x061D, 0x115E,
        0x1161,  0x17B3,  0x17B6,  0x180A,  0x1810,  0x3163, 0x3165,
        0xFDFF,  0xFE10,  0xFEFE,  0xFF9F,  0xFFA1,  0xFFEF, 0xFFFC,
        0x1BC9F, 0x1BCA4, 0x1D172, 0x1D17B, 0xDFFFD, 0xE1000}) {
    CAPTURE(static_cast<uint32_t>(cp));
    CHECK_FALSE(IsHiddenCodePoint(cp));
  }
  // Exact output, as the table and the attempt log print them.
  CHECK(EscapeForDisplay("alice\xCD\x8F") == "alice%CD%8F");  // U+034F
  CHECK(EscapeForDisplay("ali\xEF\xB8\x8F"
                         "ce") == "ali%EF%B8%8Fce");  // U+FE0F
  CHECK(EscapeForDisplay("a\xCD\x8E"
                         "b") ==
        "a\xCD\x8E"
        "b");  // U+034E is shown.
  CHECK(EscapeForDisplay("\xE1\x85\x9F\xE1\x85\xA0\xE1\x85\xA1") ==
        "%E1%85%9F%E1%85%A0\xE1\x85\xA1");  // U+115F, U+1160; U+1161 shown
  CHECK(EscapeForDisplay("\xE1\x9E\xB3\xE1\x9E\xB4\xE1\x9E\xB5\xE1\x9E\xB6") ==
        "\xE1\x9E\xB3%E1%9E%B4%E1%9E%B5\xE1\x9E\xB6");  // U+17B3-U+17B6
  CHECK(EscapeForDisplay("\xE1\xA0\x8A\xE1\xA0\x8B\xE1\xA0\x8F\xE1\xA0\x90") ==
        "\xE1\xA0\x8A%E1%A0%8B%E1%A0%8F\xE1\xA0\x90");     // U+180A-U+1810
  CHECK(EscapeForDisplay("\xE2\x81\xA5") == "%E2%81%A5");  // U+2065
  CHECK(EscapeForDisplay("\xE3\x85\xA4") == "%E3%85%A4");  // U+3164
  CHECK(EscapeForDisplay("\xEF\xB7\xBF\xEF\xB8\x80\xEF\xB8\x8F\xEF\xB8\x90") ==
        "\xEF\xB7\xBF%EF%B8%80%EF%B8%8F\xEF\xB8\x90");     // U+FDFF-U+FE10
  CHECK(EscapeForDisplay("\xEF\xBE\xA0") == "%EF%BE%A0");  // U+FFA0
  CHECK(EscapeForDisplay("\xEF\xBF\xAF\xEF\xBF\xB0\xEF\xBF\xB8") ==
        "\xEF\xBF\xAF%EF%BF%B0%EF%BF%B8");  // U+FFEF, U+FFF0, U+FFF8
  CHECK(EscapeForDisplay("\xF0\x9B\xB2\xA0\xF0\x9B\xB2\xA3") ==
        "%F0%9B%B2%A0%F0%9B%B2%A3");  // U+1BCA0, U+1BCA3
  CHECK(EscapeForDisplay("\xF0\x9D\x85\xB3\xF0\x9D\x85\xBA") ==
        "%F0%9D%85%B3%F0%9D%85%BA");  // U+1D173, U+1D17A
  CHECK(EscapeForDisplay("\xF3\xA0\x80\x80\xF3\xA0\x84\x80\xF3\xA0\x87\xAF") ==
        "%F3%A0%80%80%F3%A0%84%80%F3%A0%87%AF");  // U+E0000, U+E0100, U+E01EF
  CHECK(EscapeForDisplay("\xF3\xA0\xBF\xBF\xF3\xA1\x80\x80") ==
        "%F3%A0%BF%BF\xF3\xA1\x80\x80");  // U+E0FFF; U+E1000 shown
  // The same in subjects (so they stay distinct from "alice") and JSON.
  CHECK(*NormalizeUser("alice\xCD\x8F", false) == "alice%CD%8F");
  CHECK(*NormalizeUser("ali\xEF\xB8\x8F"
                       "ce",
                       false) == "ali%EF%B8%8Fce");
  CHECK(EscapeJsonHidden("\"alice\xCD\x8F\xF3\xA0\x84\x80\"") ==
        "\"alice\\u034f\\udb40\\udd00\"");
}

// A name in a log line or a table is one word: "refused user U from H"
// with U = "bob from 198.51.100.9" read as bob refused from that host.
TEST_CASE("DisplayName writes every blank as %XX, and nothing else more") {
  CHECK(DisplayName("bob from 198.51.100.9") == "bob%20from%20198.51.100.9");
  // Every Unicode Zs character, and the hidden ones as EscapeForDisplay.
  CHECK(DisplayName("a\xC2\xA0"
                    "b\xE1\x9A\x80"
                    "c\xE2\x80\x80"
                    "d\xE2\x80\x8A"
                    "e\xE2\x80\xAF"
                    "f\xE2\x81\x9F"
                    "g\xE3\x80\x80"
                    "h\xE2\xA0\x80"
                    "i") ==
        "a%C2%A0b%E1%9A%80c%E2%80%80d%E2%80%8Ae%E2%80%AFf%E2%81%9Fg%E3%80%80h%"
        "E2%A0%80i");
  // U+2801 is a Braille dot, not blank.
  CHECK(DisplayName("\xE2\xA0\x81") == "\xE2\xA0\x81");
  CHECK(DisplayName("x\ty\xE2\x80\xAEz") == "x%09y%E2%80%AEz");
  // U+200B (zero width space) is hidden, not Zs; U+2010 is a hyphen.
  CHECK(DisplayName("a\xE2\x80\x8B"
                    "b\xE2\x80\x90") == "a%E2%80%8Bb\xE2\x80\x90");
  // A subject's own escapes are kept, so it reads back as it is stored.
  CHECK(DisplayName("evil%1B[31m") == "evil%1B[31m");
  CHECK(DisplayName("alice") == "alice");
  CHECK(DisplayName("2001:db8::1") == "2001:db8::1");
  CHECK(DisplayName("") == "");
}

TEST_CASE("EscapeJsonHidden writes hidden code points as \\u escapes") {
  // As a serializer writes it: C0 inside strings already escaped, newlines
  // and spaces between tokens kept.
  CHECK(EscapeJsonHidden("[\n  \"a\\u001b\xC2\x9B\xE2\x80\xAE\x7F\"\n]") ==
        "[\n  \"a\\u001b\\u009b\\u202e\\u007f\"\n]");
  CHECK(EscapeJsonHidden("\"\xF3\xA0\x80\x81\"") == "\"\\udb40\\udc01\"");
  CHECK(EscapeJsonHidden("\"\xFF\xC0\xAF\"") ==
        "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
  CHECK(EscapeJsonHidden("\"jos\xC3\xA9 \xE6\x97\xA5 100%\"") ==
        "\"jos\xC3\xA9 \xE6\x97\xA5 100%\"");
}

TEST_CASE("IsValidUtf8") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("jos\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\x92"));
  CHECK(IsValidUtf8(std::string("a\0\x01", 3)));  // Valid, if unwelcome.
  CHECK_FALSE(IsValidUtf8("\xAA"));               // Lone continuation.
  CHECK_FALSE(IsValidUtf8("a\xC3"));              // Truncated sequence.
  CHECK_FALSE(IsValidUtf8("\xC0\xAF"));           // Overlong.
  CHECK_FALSE(IsValidUtf8("\xED\xA0\x80"));       // Surrogate.
  CHECK_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));   // Above U+10FFFF.
}

TEST_CASE("CIDR parsing and matching") {
  std::string err;
  auto net = ParseCidr("10.1.2.3/8", &err);
  REQUIRE(net.has_value());
  CHECK(net->ToString() == "10.0.0.0/8");
  CHECK(net->Contains(*ParseIp("10.255.0.1")));
  CHECK_FALSE(net->Contains(*ParseIp("11.0.0.1")));
  CHECK_FALSE(net->Contains(*ParseIp("2001:db8::1")));
  auto v6 = ParseCidr("2001:db8::/32", &err);
  REQUIRE(v6.has_value());
  CHECK(v6->Contains(*ParseIp("2001:db8:ffff::1")));
  CHECK_FALSE(v6->Contains(*ParseIp("2001:db9::1")));
  CHECK_FALSE(v6->Contains(*ParseIp("10.0.0.1")));
  auto single = ParseCidr("192.0.2.7", &err);
  REQUIRE(single.has_value());
  CHECK(single->prefix == 32);
  CHECK(single->Contains(*ParseIp("::ffff:192.0.2.7")));
  CHECK(ParseCidr("0.0.0.0/0", &err)->Contains(*ParseIp("8.8.8.8")));

  CHECK_FALSE(ParseCidr("10.0.0.0/33", &err).has_value());
  CHECK(err == "bad prefix length in \"10.0.0.0/33\" (0-32)");
  CHECK_FALSE(ParseCidr("10.0.0.0/", &err).has_value());
  CHECK_FALSE(ParseCidr("10.0.0.0/8x", &err).has_value());
  CHECK_FALSE(ParseCidr("example.com/8", &err).has_value());
  CHECK(err == "not an IPv4 or IPv6 address or network: \"example.com/8\"");
  CHECK_FALSE(ParseCidr("2001:db8::/129", &err).has_value());
}

}  // namespace
}  // namespace defender
