#include "common/normalize.h"

#include <doctest/doctest.h>

#include <string>

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

TEST_CASE("host names are lower-cased; control characters escaped") {
  CHECK(HostOf("Attacker.Example.COM") == "attacker.example.com");
  CHECK(HostOf("evil\r\nhost") == "evil%0D%0Ahost");
  CHECK(HostOf("a;rm -rf /") == "a;rm -rf /");
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
