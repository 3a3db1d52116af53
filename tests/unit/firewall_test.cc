// defenderctl's firewall pieces (doc/DESIGN.md §15): the [firewall] keys,
// the guard that decides what may be dropped, the event parser, the nft
// text and listing, and SyncAll/SyncOne against the real kernel firewall
// in a private network namespace (root only).
#include "defenderctl/firewall.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "common/config.h"
#include "defenderctl/firewall_event.h"
#include "defenderctl/firewall_guard.h"
#include "defenderctl/firewall_needed.h"
#include "defenderctl/firewall_sync.h"
#include "tests/support/files.h"
#include "tests/support/memory_store.h"
#include "tests/support/process.h"
#include "tests/unit/config_text.h"

namespace defender::ctl {
namespace {

using testing::Parse;
using testing::ParseError;

TEST_CASE("[firewall]: defaults, values, errors and config show") {
  const Config d;
  CHECK_FALSE(d.firewall_enabled);
  CHECK(d.firewall_ports == std::vector<int64_t>{22});
  CHECK_FALSE(d.firewall_reject);
  CHECK(d.firewall_table == "pam_defender");
  CHECK(d.firewall_resync_seconds == 60);
  CHECK(d.firewall_max_elements == 65536);

  const Config c = Parse(
      "[firewall]\nenabled = true\nports = []\naction = \"reject\"\n"
      "table = \"my_fw2\"\nresync_seconds = 5\nmax_elements = 10\n");
  CHECK(c.firewall_enabled);
  CHECK(c.firewall_ports.empty());
  CHECK(c.firewall_reject);
  CHECK(c.firewall_table == "my_fw2");
  CHECK(c.firewall_resync_seconds == 5);
  CHECK(c.firewall_max_elements == 10);
  CHECK(Parse("[firewall]\nports = [22, 2222]\n").firewall_ports ==
        std::vector<int64_t>{22, 2222});

  CHECK(ParseError("[firewall]\nports = [0]\n") ==
        "t.toml:2: firewall.ports: value 0 out of range (1-65535)");
  CHECK(ParseError("[firewall]\nports = 22\n") ==
        "t.toml:2: firewall.ports: expected an array of integers");
  CHECK(ParseError("[firewall]\naction = \"accept\"\n") ==
        "t.toml:2: firewall.action: expected \"drop\" or \"reject\", got "
        "\"accept\"");
  CHECK(ParseError("[firewall]\ntable = \"x; flush ruleset\"\n") ==
        "t.toml:2: firewall.table: must be 1-32 letters, digits or '_', "
        "starting with a letter");
  CHECK(ParseError("[firewall]\ntable = \"9x\"\n").find("firewall.table") !=
        std::string::npos);
  CHECK(ParseError("[firewall]\nresync_seconds = 0\n") ==
        "t.toml:2: firewall.resync_seconds: value 0 out of range (1-86400)");
  CHECK(ParseError("[firewall]\nmax_elements = 0\n") ==
        "t.toml:2: firewall.max_elements: value 0 out of range (1-1000000)");
  CHECK(ParseError("[firewall]\nbogus = 1\n") ==
        "t.toml:2: firewall.bogus: unknown key");

  // config show prints what config check accepts, the same values.
  const std::string dump = DumpConfig(c);
  CHECK(dump.find("[firewall]\nenabled = true\nports = []\naction = "
                  "\"reject\"\ntable = \"my_fw2\"\nresync_seconds = 5\n"
                  "max_elements = 10\n") != std::string::npos);
  const Config again = Parse(dump);
  CHECK(again.firewall_ports.empty());
  CHECK(again.firewall_table == "my_fw2");
}

TEST_CASE("the guard admits single addresses and /ipv6_prefix networks only") {
  Config cfg;
  std::string err;
  cfg.allow_hosts = {*ParseCidr("192.0.2.0/24", &err),
                     *ParseCidr("2001:db8:aa::/48", &err)};
  const FirewallGuard guard(
      cfg, {*ParseIp("198.51.100.1"), *ParseIp("2001:db8:5:6::1")});
  const auto admit = [&](const std::string& s) {
    FirewallElement e;
    std::string why;
    return guard.Admit(s, &e, &why) ? "ok " + e.addr + (e.v6 ? " v6" : " v4")
                                    : why;
  };
  CHECK(admit("203.0.113.9") == "ok 203.0.113.9 v4");
  CHECK(admit("2001:db8:1:2::/64") == "ok 2001:db8:1:2::/64 v6");
  // A single IPv6 address next to /64 subjects: its element would overlap
  // its /64's, and nft would refuse every sync.
  CHECK(admit("2001:db8::7") ==
        "a single IPv6 address (lockout.ipv6_prefix is 64: blocks name /64 "
        "networks)");
  CHECK(admit("169.254.169.254") == "a link-local or multicast address");
  CHECK(admit("224.0.0.251") == "a link-local or multicast address");
  CHECK(admit("255.255.255.255") == "a link-local or multicast address");
  CHECK(admit("239.255.255.250") == "a link-local or multicast address");
  CHECK(admit("240.0.0.1") == "ok 240.0.0.1 v4");  // Private use, at times.
  CHECK(admit("ff02::/64") == "a link-local or multicast address");
  CHECK(admit("fe80::/64") == "a link-local or multicast address");
  CHECK(admit("10.0.0.0/8") == "a network other than an IPv6 /64");
  CHECK(admit("0.0.0.0/0") == "a network other than an IPv6 /64");
  CHECK(admit("::/0") == "a network other than an IPv6 /64");
  CHECK(admit("2001:db8::/32") == "a network other than an IPv6 /64");
  CHECK(admit("2001:db8:1:2::5/64") == "not in canonical form");
  CHECK(admit("010.0.0.1") ==
        "not an IP address (a host name cannot be dropped)");
  CHECK(admit("[203.0.113.9]") == "not in canonical form");
  CHECK(admit("fe80::1%eth0") == "not in canonical form");
  CHECK(admit("::ffff:203.0.113.9") == "not in canonical form");
  CHECK(admit("attacker.example") ==
        "not an IP address (a host name cannot be dropped)");
  CHECK(admit("127.0.0.1") == "a loopback or unspecified address");
  CHECK(admit("127.8.9.10") == "a loopback or unspecified address");
  CHECK(admit("::1") == "a loopback or unspecified address");
  CHECK(admit("0.0.0.0") == "a loopback or unspecified address");
  CHECK(admit("::") == "a loopback or unspecified address");
  CHECK(admit("192.0.2.77") == "in lockout.allow_hosts (192.0.2.0/24)");
  // A /64 that holds an allow-listed network, or lies inside one.
  CHECK(admit("2001:db8:aa:1::/64") ==
        "in lockout.allow_hosts (2001:db8:aa::/48)");
  CHECK(admit("198.51.100.1") == "an address of this machine");
  CHECK(admit("2001:db8:5:6::/64") == "an address of this machine");
  CHECK(admit("198.51.100.2") == "ok 198.51.100.2 v4");
  CHECK(admit("") == "not an IP address (a host name cannot be dropped)");

  const FirewallGuard test_only(cfg, {*ParseIp("198.51.100.1")}, true);
  FirewallElement e;
  std::string why;
  CHECK(test_only.Admit("127.0.0.1", &e, &why));
  CHECK(test_only.Admit("198.51.100.1", &e, &why));
  CHECK_FALSE(test_only.Admit("192.0.2.1", &e, &why));  // Still allow-listed.

  cfg.ipv6_prefix = 128;
  const FirewallGuard exact(cfg, {});
  CHECK_FALSE(exact.Admit("2001:db8:1:2::/64", &e, &why));
  CHECK(exact.Admit("2001:db8::9", &e, &why));
  // One spelling only: "X/128" would be a second element key for X.
  CHECK_FALSE(exact.Admit("2001:db8::9/128", &e, &why));
  CHECK(why == "a network other than an IPv6 /128");
  CHECK_FALSE(exact.Admit("fe80::1", &e, &why));  // A router's, often.
  CHECK(why == "a link-local or multicast address");
}

TEST_CASE("the addresses this machine needs are never dropped") {
  const auto texts = [](const std::vector<IpAddress>& ips) {
    std::string out;
    for (const IpAddress& ip : ips) out += FormatIp(ip) + " ";
    return out;
  };
  CHECK(texts(NameServersOf("# comment\nnameserver 192.0.2.53\n"
                            "search example.org\n"
                            "nameserver fe80::1%eth0\nnameserver bogus\n"
                            "  nameserver\t2001:db8::53\n")) ==
        "192.0.2.53 fe80::1 2001:db8::53 ");
  // /proc/net/route: the default route's gateway 192.0.2.1 (hex in host
  // order); a route with a destination is not a default route.
  const std::string route =
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
      "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n"
      "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"
      "eth1\t0000000A\t020000C6\t0003\t0\t0\t0\t000000FF\n";
  const std::string ipv6_route =
      "00000000000000000000000000000000 00 00000000000000000000000000000000 "
      "00 fe800000000000000000000000000001 00000400 00000001 00000000 "
      "00000003 eth0\n"
      "20010db8000000000000000000000000 40 00000000000000000000000000000000 "
      "00 00000000000000000000000000000000 00000100 00000001 00000000 "
      "00000001 eth0\n"
      "00000000000000000000000000000000 00 00000000000000000000000000000000 "
      "00 00000000000000000000000000000000 ffffffff 00000001 00000000 "
      "00200200 lo\n";
  CHECK(texts(GatewaysOf(route, ipv6_route)) == "192.0.2.1 fe80::1 ");

  // The server a subscription reached (through a Sentinel: the master).
  CHECK(FormatIp(*AddressOfServer("203.0.113.5:6379")) == "203.0.113.5");
  CHECK(FormatIp(*AddressOfServer("2001:db8::5:6379")) == "2001:db8::5");
  CHECK_FALSE(AddressOfServer("/run/redis/redis.sock"));
  CHECK_FALSE(AddressOfServer("redis.example:6379"));

  Config cfg;
  CHECK(RedisAddresses(cfg).empty());  // The local store.
  cfg.backend = StoreBackend::kRedis;
  cfg.redis_url = "redis://:pw@203.0.113.10:6380/0";
  cfg.redis_sentinels = {"[2001:db8::26]:26379", "198.51.100.26"};
  CHECK(texts(RedisAddresses(cfg)) ==
        "203.0.113.10 2001:db8::26 198.51.100.26 ");
  cfg.redis_url = "unix:///run/redis.sock";
  cfg.redis_sentinels = {"localhost:26379"};
  const std::string local = texts(RedisAddresses(cfg));
  CHECK(local.find("127.0.0.1 ") != std::string::npos);

  cfg.redis_url = "redis://203.0.113.10:6379/0";
  cfg.redis_sentinels = {};
  const FirewallGuard guard(cfg, {}, false, RedisAddresses(cfg));
  FirewallElement e;
  std::string why;
  CHECK_FALSE(guard.Admit("203.0.113.10", &e, &why));
  CHECK(why ==
        "an address this machine needs (its Redis, a name server or a "
        "gateway)");
  CHECK(guard.Admit("203.0.113.11", &e, &why));
  // The test build's allow_local does not admit them either.
  const FirewallGuard test_only(cfg, {}, true, RedisAddresses(cfg));
  CHECK_FALSE(test_only.Admit("203.0.113.10", &e, &why));
}

TEST_CASE("a watcher reports a refused host once, and again after a gap") {
  const auto sync = [](std::vector<std::string> hosts) {
    SyncChanges c;
    for (const std::string& h : hosts) c.refused.emplace_back(h, "why");
    return c;
  };
  const auto names = [](const SyncChanges& c) {
    std::string out;
    for (const auto& [subject, why] : c.refused) out += subject + " ";
    return out;
  };
  std::set<std::string> seen;
  SyncChanges c = sync({"a.example", "b.example"});
  KeepNewRefusals(&c, &seen);
  CHECK(names(c) == "a.example b.example ");
  c = sync({"a.example", "b.example", "c.example"});
  KeepNewRefusals(&c, &seen);
  CHECK(names(c) == "c.example ");
  c = sync({"c.example"});  // a and b are no longer blocked.
  KeepNewRefusals(&c, &seen);
  CHECK(names(c) == "");
  c = sync({"a.example", "c.example"});  // a is blocked again.
  KeepNewRefusals(&c, &seen);
  CHECK(names(c) == "a.example ");
  // At most `limit` remembered: past it, a host is reported each time.
  c = sync({"a.example", "c.example", "d.example"});
  KeepNewRefusals(&c, &seen, 2);
  CHECK(names(c) == "d.example ");
  c = sync({"a.example", "c.example", "d.example"});
  KeepNewRefusals(&c, &seen, 2);
  CHECK(names(c) == "d.example ");
}

TEST_CASE("event hints") {
  std::string s;
  std::string why;
  bool block = false;
  CHECK(ParseEventHint(R"({"event":"block","kind":"host","subject":"1.2.3.4",)"
                       R"("until":5,"host":"a","service":"sshd","time":1})",
                       &s, &block, &why) == EventHint::kHost);
  CHECK(s == "1.2.3.4");
  CHECK(block);
  CHECK(ParseEventHint(R"({"event":"unblock","kind":"host","subject":"h"})", &s,
                       &block, &why) == EventHint::kHost);
  CHECK_FALSE(block);
  CHECK(ParseEventHint(R"({"event":"block","kind":"user","subject":"bob"})", &s,
                       &block, &why) == EventHint::kOther);
  const auto bad = [&](std::string_view m) {
    why.clear();
    const bool malformed =
        ParseEventHint(m, &s, &block, &why) == EventHint::kMalformed;
    return malformed ? why : "accepted";
  };
  CHECK(bad("") == "not a JSON object");
  CHECK(bad("[1,2]") == "not a JSON object");
  CHECK(bad("{\"event\":") == "not a JSON object");
  CHECK(bad(R"({"event":"drop","kind":"host","subject":"h"})") ==
        "no \"event\" of \"block\" or \"unblock\"");
  CHECK(bad(R"({"event":1,"kind":"host","subject":"h"})") ==
        "no \"event\" of \"block\" or \"unblock\"");
  CHECK(bad(R"({"event":"block","kind":"host","subject":["h"]})") ==
        "no string \"kind\" and \"subject\" (1-256 bytes)");
  CHECK(bad(R"({"event":"block","kind":"host","subject":""})") ==
        "no string \"kind\" and \"subject\" (1-256 bytes)");
  CHECK(bad(R"({"event":"block","kind":"host","subject":")" +
            std::string(257, 'a') + "\"}") ==
        "no string \"kind\" and \"subject\" (1-256 bytes)");
  CHECK(bad(std::string(kMaxEventBytes + 1, '[')) == "longer than 4096 bytes");
  CHECK(bad(std::string(4000, '[')) == "not a JSON object");
  CHECK(bad(std::string("{\"event\":\"block\0\"}", 18)) ==
        "not a JSON object");  // A raw control character.
  CHECK(bad(R"({"event":"block\u0000","kind":"host","subject":"h"})") ==
        "no \"event\" of \"block\" or \"unblock\"");
}

TEST_CASE("the table's nft commands") {
  FirewallSettings s;
  CHECK(Firewall(s).TableCommands() ==
        "add table inet pam_defender\n"
        "add set inet pam_defender blocked_v4 { type ipv4_addr; flags "
        "interval, timeout; }\n"
        "add set inet pam_defender blocked_v6 { type ipv6_addr; flags "
        "interval, timeout; }\n"
        "add chain inet pam_defender input { type filter hook input priority "
        "filter - 10; policy accept; }\n"
        "flush chain inet pam_defender input\n"
        "add rule inet pam_defender input ip saddr @blocked_v4 meta l4proto { "
        "tcp, udp } th dport { 22 } drop\n"
        "add rule inet pam_defender input ip6 saddr @blocked_v6 meta l4proto "
        "{ tcp, udp } th dport { 22 } drop\n");
  s.table = "t";
  s.ports = {};
  s.reject = true;
  const std::string reject = Firewall(s).TableCommands();
  CHECK(reject.substr(reject.find("flush chain")) ==
        "flush chain inet t input\n"
        "add rule inet t input ip saddr @blocked_v4 meta l4proto tcp reject "
        "with tcp reset\n"
        "add rule inet t input ip saddr @blocked_v4 reject with icmpx "
        "admin-prohibited\n"
        "add rule inet t input ip6 saddr @blocked_v6 meta l4proto tcp reject "
        "with tcp reset\n"
        "add rule inet t input ip6 saddr @blocked_v6 reject with icmpx "
        "admin-prohibited\n");
}

// What nft 1.0.6 lists (nft -j -t list table) for the table Ensure makes
// with port 22 and reject, shortened to one rule of each kind.
constexpr char kOurTable[] =
    R"({"nftables": [{"metainfo": {"version": "1.0.6"}}, )"
    R"({"table": {"family": "inet", "name": "pd", "handle": 2}}, )"
    R"({"set": {"family": "inet", "name": "blocked_v4", "table": "pd", )"
    R"("type": "ipv4_addr", "handle": 1, "flags": ["interval", "timeout"]}}, )"
    R"({"set": {"family": "inet", "name": "blocked_v6", "table": "pd", )"
    R"("type": "ipv6_addr", "handle": 2, "flags": ["interval", "timeout"]}}, )"
    R"({"chain": {"family": "inet", "table": "pd", "name": "input", )"
    R"("handle": 3, "type": "filter", "hook": "input", "prio": -10, )"
    R"("policy": "accept"}}, )"
    R"({"rule": {"family": "inet", "table": "pd", "chain": "input", )"
    R"("handle": 5, "expr": [{"match": {"op": "==", "left": {"payload": )"
    R"({"protocol": "th", "field": "dport"}}, "right": 22}}, {"match": )"
    R"({"op": "==", "left": {"payload": {"protocol": "ip", "field": )"
    R"("saddr"}}, "right": "@blocked_v4"}}, {"drop": null}]}}, )"
    R"({"rule": {"family": "inet", "table": "pd", "chain": "input", )"
    R"("handle": 6, "expr": [{"match": {"op": "==", "left": {"payload": )"
    R"({"protocol": "ip6", "field": "saddr"}}, "right": "@blocked_v6"}}, )"
    R"({"reject": {"type": "icmpx", "expr": "admin-prohibited"}}]}}]})";

// `s` with the first `from` replaced by `to`.
std::string With(std::string s, const std::string& from,
                 const std::string& to) {
  const size_t at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

// kOurTable with `from` replaced by `to`.
std::string OurTableWith(const std::string& from, const std::string& to) {
  return With(kOurTable, from, to);
}

TEST_CASE("ForeignObject tells pam_defender's table from any other") {
  std::string what = "unchanged";
  int64_t handle = 0;
  CHECK_FALSE(ForeignObject(kOurTable, &what, &handle));
  CHECK(what == "unchanged");
  CHECK(handle == 2);
  // Other ports and the reject action: still ours.
  CHECK_FALSE(ForeignObject(
      With(OurTableWith(R"("right": 22}})",
                        R"("right": {"set": [22, 2222]}}}, {"match": {"op": )"
                        R"("==", "left": {"meta": {"key": "l4proto"}}, )"
                        R"("right": "tcp"}})"),
           R"({"drop": null})", R"({"reject": {"type": "tcp reset"}})"),
      &what));
  // Debian's /etc/nftables.conf: table inet filter.
  CHECK(ForeignObject(
      R"({"nftables": [{"table": {"family": "inet", "name": "filter"}}, )"
      R"({"chain": {"name": "input", "type": "filter", "hook": "input", )"
      R"("prio": 0, "policy": "accept"}}, {"chain": {"name": "forward", )"
      R"("type": "filter", "hook": "forward", "prio": 0, "policy": )"
      R"("accept"}}]})",
      &what));
  CHECK(what == "holds chain input");
  const std::vector<std::pair<std::string, std::string>> changed = {
      {R"("policy": "accept")", R"("policy": "drop")"},
      {R"("hook": "input")", R"("hook": "forward")"},
      {R"("name": "input")", R"("name": "inbound")"},
      {R"("type": "ipv6_addr")", R"("type": "ipv4_addr")"},
      {R"("name": "blocked_v4")", R"("name": "allowed")"},
      {R"("flags": ["interval", "timeout"]}}, {"set")",
       R"("flags": ["interval"]}}, {"set")"},
      {R"("name": "pd", "handle": 2})",
       R"("name": "pd", "handle": 2, "comment": "my-tool's"})"},
      {R"("chain": "input", "handle": 6)", R"("chain": "other", "handle": 6)"},
      {R"({"metainfo": {"version": "1.0.6"}}, )",
       R"({"map": {"name": "ports", "table": "pd"}}, )"},
      {R"({"metainfo": {"version": "1.0.6"}}, )",
       R"({"counter": {"name": "hits"}, "x": 1}, )"},
  };
  const std::vector<std::string> expected = {
      "holds chain input",
      "holds chain input",
      "holds chain inbound",
      "holds set blocked_v6",
      "holds set allowed",
      "holds set blocked_v4",
      "has flags or a comment pam_defender does not set",
      "holds a rule in chain other",
      "holds map ports",
      "holds an object not understood",
  };
  REQUIRE(changed.size() == expected.size());
  for (size_t i = 0; i < changed.size(); ++i) {
    what.clear();
    CHECK_MESSAGE(
        ForeignObject(OurTableWith(changed[i].first, changed[i].second), &what),
        changed[i].second);
    CHECK(what == expected[i]);
  }
  // Rules added by hand to the chain (a full sync rewrites them) leave the
  // table ours: a counter while debugging, an accept.
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{
           {R"({"drop": null})", R"({"counter": null}, {"accept": null})"},
           {R"({"op": "==", "left": {"payload": {"protocol": "ip", )",
            R"({"op": "!=", "left": {"payload": {"protocol": "ip", )"}}) {
    CHECK_FALSE(ForeignObject(OurTableWith(from, to), &what));
  }
  // A table without one of the three (Ensure makes them together).
  const std::string chain_start = R"({"chain": )";
  std::string no_chain = kOurTable;
  no_chain = no_chain.substr(0, no_chain.find(chain_start)) + "{}]}";
  no_chain.replace(no_chain.rfind(", {}"), 4, "");
  CHECK(ForeignObject(no_chain, &what));
  CHECK(what == "has no chain input");
  CHECK(ForeignObject(R"({"nftables": [{"table": {"family": "inet", )"
                      R"("name": "pd", "handle": 9}}]})",
                      &what));
  CHECK(what == "has no set blocked_v4");
  CHECK(ForeignObject("garbage", &what));
  CHECK(what == "is listed in a form not understood");
}

TEST_CASE("set listings") {
  std::vector<FirewallElement> out;
  std::vector<std::string> foreign;
  std::string err;
  REQUIRE(ParseSetListing(
      R"({"nftables": [{"metainfo": {"version": "1.0.6"}}, {"set": {"family":)"
      R"( "inet", "name": "blocked_v6", "elem": [{"elem": {"val": {"prefix":)"
      R"( {"addr": "2001:db8:1:2::", "len": 64}}, "timeout": 100, "expires":)"
      R"( 99}}, {"prefix": {"addr": "2001:db8:9::", "len": 64}}, "2001:db8::1",)"
      R"( {"range": ["2001:db8::5", "2001:db8::9"]}]}}]})",
      true, &out, &foreign, &err));
  CHECK(out == std::vector<FirewallElement>{{true, "2001:db8:1:2::/64", 99},
                                            {true, "2001:db8:9::/64", 0},
                                            {true, "2001:db8::1", 0}});
  CHECK(foreign ==
        std::vector<std::string>{R"({"range":["2001:db8::5","2001:db8::9"]})"});
  out.clear();
  CHECK(ParseSetListing(R"({"nftables": [{"set": {"name": "blocked_v4"}}]})",
                        false, &out, &foreign, &err));
  CHECK(out.empty());
  CHECK_FALSE(ParseSetListing("garbage", false, &out, &foreign, &err));
  CHECK(err == "unexpected output from nftables");
}

// With DNS down (a server that never answers), a Redis host name costs a
// sync at most a second, not the resolver's 10 s: a private mount
// namespace points /etc/resolv.conf at a black hole on 127.0.0.77.
TEST_CASE("a Redis host name DNS never answers costs at most 1 s" *
          doctest::skip(geteuid() != 0)) {
  testing::TempDir dir;
  const std::string conf = dir.Write("resolv.conf", "nameserver 127.0.0.77\n");
  const std::string result = testing::InChild([&conf]() -> std::string {
    if (const std::string e = testing::EnterBlackHoleDns(conf); !e.empty()) {
      return e;
    }
    Config cfg = Parse(
        "[store]\nbackend = \"redis\"\n[redis]\n"
        "url = \"redis://redis-a.example.com:6379/0\"\n"
        "sentinels = [\"192.0.2.9:26379\"]\n");
    const auto start = std::chrono::steady_clock::now();
    const std::vector<IpAddress> got = RedisAddresses(cfg);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    std::string r = std::to_string(got.size()) + " address(es)";
    for (const IpAddress& ip : got) r += " " + FormatIp(ip);
    return r + (ms < 1500 ? "" : " after " + std::to_string(ms) + " ms");
  });
  CHECK(result == "1 address(es) 192.0.2.9");
}

// Runs `fn` in a child in a new network namespace (root only).
std::string InNetns(const std::function<std::string()>& fn) {
  return testing::InChild([&]() -> std::string {
    if (unshare(CLONE_NEWNET) != 0) return "unshare failed";
    return fn();
  });
}

FirewallSettings TableSettings(const std::string& table) {
  FirewallSettings settings;
  settings.table = table;
  return settings;
}

// What a sync test works on: a memory store, the firewall table `table`
// (of the test's private network namespace) and the guard of the default
// configuration, at the time `now`.
struct SyncFixture {
  SyncFixture(const std::string& table, int64_t max_elements)
      : fw(TableSettings(table)),
        guard(cfg, {}),
        target{&fw, &store, &guard, max_elements} {}
  // Blocks host `h` until `until` (0: permanently).
  void Block(const std::string& h, int64_t until) {
    store.Block({SubjectKind::kHost, h}, until, now, &err);
  }

  const int64_t now = 1'000'000;
  MemoryStore store;
  std::string err;
  Config cfg;
  Firewall fw;
  const FirewallGuard guard;
  SyncTarget target;
};

TEST_CASE("SyncAll and SyncOne with the kernel firewall, and the cap" *
          doctest::skip(geteuid() != 0)) {
  const std::string result = InNetns([]() -> std::string {
    SyncFixture f("pd_unit", 3);
    const int64_t now = f.now;
    const auto block = [&f](const std::string& h, int64_t until) {
      f.Block(h, until);
    };
    MemoryStore& store = f.store;
    std::string& err = f.err;
    Firewall& fw = f.fw;
    const SyncTarget& t = f.target;
    block("203.0.113.1", now + 100);
    block("203.0.113.2", 0);
    block("203.0.113.3", now + 300);
    block("2001:db8:1:2::/64", now + 50);
    block("127.0.0.1", 0);
    store.Block({SubjectKind::kUser, "bob"}, 0, now, &err);
    std::string log;
    SyncChanges c;
    if (!SyncAll(t, now, &c, &err)) return "sync: " + err;
    log += DescribeChanges(c);
    SyncChanges again;
    if (!SyncAll(t, now + 1, &again, &err)) return "sync: " + err;
    log += "again:\n" + DescribeChanges(again);
    // The cap (3) gave the /64 a place (each family is first given one, half
    // of 3) and left .1 out (the IPv4 host that ends first); unblocking .3
    // makes room for it.
    bool was = false;
    store.Unblock({SubjectKind::kHost, "203.0.113.3"}, now, &was, &err);
    size_t present = 0;
    SyncChanges one;
    if (!SyncOne(t, "203.0.113.3", now + 2, &present, &one, &err) ||
        !SyncOne(t, "2001:db8:1:2::/64", now + 2, &present, &one, &err) ||
        !SyncOne(t, "203.0.113.1", now + 2, &present, &one, &err) ||
        !SyncOne(t, "10.0.0.0/8", now + 2, &present, &one, &err) ||
        !SyncOne(t, "198.51.100.1", now + 2, &present, &one, &err)) {
      return "one: " + err;
    }
    // A removed element shows the kernel's count-down: not compared.
    for (FirewallElement& e : one.removed) e.timeout = 0;
    log += "one:\n" + DescribeChanges(one);
    block("203.0.113.9", now + 100);  // The sets are full.
    SyncChanges full;
    if (!SyncOne(t, "203.0.113.9", now + 2, &present, &full, &err)) {
      return "full: " + err;
    }
    log += "full:\n" + DescribeChanges(full);
    log += "present " + std::to_string(present) + "\n";
    bool existed = false;
    if (!fw.Remove(&existed, &err)) return "remove: " + err;
    std::vector<FirewallElement> left;
    bool exists = true;
    if (!fw.List(&left, &exists, &err)) return "list: " + err;
    log += exists ? "table left\n" : "table gone\n";
    return log;
  });
  CHECK(result ==
        "created the table\n"
        "+ 203.0.113.2 (permanent)\n"
        "+ 2001:db8:1:2::/64 (50s)\n"
        "+ 203.0.113.3 (300s)\n"
        "! 127.0.0.1 not dropped: a loopback or unspecified address\n"
        "! firewall.max_elements reached: 1 blocked host(s) not dropped\n"
        "again:\n"
        "! 127.0.0.1 not dropped: a loopback or unspecified address\n"
        "! firewall.max_elements reached: 1 blocked host(s) not dropped\n"
        "one:\n"
        "+ 203.0.113.1 (98s)\n"
        "- 203.0.113.3 (permanent)\n"
        "! 10.0.0.0/8 not dropped: a network other than an IPv6 /64\n"
        "full:\n"
        "! firewall.max_elements reached: 1 blocked host(s) not dropped\n"
        "present 3\n"
        "table gone\n");
}

// The firewall never refuses what the module lets in: in report mode, with
// disable_host_lockout, or with by_user_and_host (where a host block refuses
// only together with its user's), no host is dropped, and what an enforcing
// sync added before goes.
TEST_CASE("no host is dropped when a host block refuses no login" *
          doctest::skip(geteuid() != 0)) {
  Config report;
  report.report_only = true;
  Config no_hosts;
  no_hosts.disable_host_lockout = true;
  Config both;
  both.by_user_and_host = true;
  std::string why;
  FirewallElement el;
  CHECK(FirewallGuard(Config(), {}).off().empty());
  CHECK_FALSE(FirewallGuard(no_hosts, {}).Admit("203.0.113.4", &el, &why));
  CHECK(why == "lockout.disable_host_lockout: a host block refuses nothing");
  CHECK_FALSE(FirewallGuard(both, {}).Admit("203.0.113.4", &el, &why));
  CHECK(why ==
        "lockout.by_user_and_host: a host block alone refuses only users "
        "never blocked (root, allow_users)");
  // With no user ever blocked, a host block alone refuses every login.
  both.disable_user_lockout = true;
  CHECK(FirewallGuard(both, {}).off().empty());
  CHECK(FirewallGuard(both, {}).Admit("203.0.113.4", &el, &why));
  const std::string result = InNetns([&report]() -> std::string {
    SyncFixture f("pd_report", 10);
    f.Block("203.0.113.4", f.now + 600);
    f.Block("203.0.113.5", f.now + 600);
    SyncChanges c;
    if (!SyncAll(f.target, f.now, &c, &f.err)) return "enforce: " + f.err;
    std::string log = DescribeChanges(c);
    const FirewallGuard guard(report, {});
    const SyncTarget t{&f.fw, &f.store, &guard, 10};
    SyncChanges one;
    size_t present = 0;
    if (!SyncOne(t, "203.0.113.4", f.now, &present, &one, &f.err)) {
      return "one: " + f.err;
    }
    for (FirewallElement& e : one.removed) e.timeout = 0;
    log += "one:\n" + DescribeChanges(one);
    SyncChanges all;
    if (!SyncAll(t, f.now, &all, &f.err)) return "report: " + f.err;
    for (FirewallElement& e : all.removed) e.timeout = 0;
    log += "all:\n" + DescribeChanges(all);
    return log + "present " + std::to_string(all.elements) + "\n";
  });
  CHECK(result ==
        "created the table\n"
        "+ 203.0.113.4 (600s)\n"
        "+ 203.0.113.5 (600s)\n"
        "one:\n"
        "- 203.0.113.4 (permanent)\n"
        "! 203.0.113.4 not dropped: lockout.mode = \"report\" refuses nothing\n"
        "all:\n"
        "- 203.0.113.5 (permanent)\n"
        "! no host is dropped: lockout.mode = \"report\" refuses nothing\n"
        "present 0\n");
}

// A hook's `firewall add` and the watcher's full sync on one machine: each
// holds /run/pam_defender/firewall-TABLE.lock from its read of the store to its
// change of the sets (a rebuild of a set by a sync that read the store before
// the hook's block would drop the hook's element). Held by another, a sync
// waits, then fails having read and changed nothing; a lock file another
// user could open is refused.
TEST_CASE("syncs hold the firewall lock from the store read to the change" *
          doctest::skip(geteuid() != 0)) {
  const std::string result = InNetns([]() -> std::string {
    testing::TempDir dir;
    const int dir_fd = open(dir.path().c_str(), O_PATH | O_DIRECTORY);
    SyncFixture f("pd_lock", 10);
    f.target.lock_dir_fd = dir_fd;
    f.target.lock_file = FirewallLockFile("pd_lock");
    f.target.lock_timeout_ms = 200;
    f.Block("203.0.113.4", f.now + 600);
    const std::string path = dir / f.target.lock_file;
    const int other = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (other < 0 || flock(other, LOCK_EX) != 0) return "cannot hold it";
    std::string log;
    SyncChanges c;
    size_t present = 0;
    if (!SyncAll(f.target, f.now, &c, &f.err)) log += "all: " + f.err + "\n";
    if (!SyncOne(f.target, "203.0.113.4", f.now, &present, &c, &f.err)) {
      log += "one: " + f.err + "\n";
    }
    std::vector<FirewallElement> have;
    bool exists = true;
    if (!f.fw.List(&have, &exists, &f.err)) return "list: " + f.err;
    log += exists ? "table made\n" : "no table\n";
    close(other);  // Released: both go on.
    if (!SyncAll(f.target, f.now, &c, &f.err) ||
        !SyncOne(f.target, "203.0.113.4", f.now, &present, &c, &f.err)) {
      return log + "after: " + f.err;
    }
    log += DescribeChanges(c);
    // A lock file another user could open (and hold) is refused.
    std::string untrusted;
    if (chmod(path.c_str(), 0644) != 0 ||
        SyncAll(f.target, f.now, &c, &untrusted)) {
      return log + "a 0644 lock file was used";
    }
    if (chmod(path.c_str(), 0600) != 0 || chown(path.c_str(), 65534, 0) != 0 ||
        SyncAll(f.target, f.now, &c, &f.err)) {
      return log + "another user's lock file was used";
    }
    close(dir_fd);
    return log + untrusted + "\n" + f.err + "\n";
  });
  CHECK(result ==
        "all: firewall-pd_lock.lock held by another sync for 200 ms\n"
        "one: firewall-pd_lock.lock held by another sync for 200 ms\n"
        "no table\n"
        "created the table\n"
        "+ 203.0.113.4 (600s)\n"
        "firewall-pd_lock.lock is not a regular file owned by this user, "
        "closed to group and others\n"
        "firewall-pd_lock.lock is not a regular file owned by this user, "
        "closed to group and others\n");
}

// An attacker with many IPv6 /64s (a /48 holds 65,536) gets each blocked
// for a long time: they take half of the cap, and the IPv4 hosts blocked
// before them keep the other half.
TEST_CASE("a flood of IPv6 blocks leaves IPv4 hosts half of the cap" *
          doctest::skip(geteuid() != 0)) {
  const std::string result = InNetns([]() -> std::string {
    SyncFixture f("pd_half", 4);
    for (int i = 1; i <= 6; ++i) {
      f.Block("2001:db8:0:" + std::to_string(i) + "::/64", f.now + 3000 + i);
    }
    f.Block("203.0.113.1", f.now + 100);
    f.Block("203.0.113.2", f.now + 200);
    f.Block("203.0.113.3", f.now + 300);
    SyncChanges c;
    if (!SyncAll(f.target, f.now, &c, &f.err)) return "sync: " + f.err;
    std::string log = DescribeChanges(c);
    // Fewer IPv4 hosts than half: the IPv6 ones take what they leave.
    bool was = false;
    for (const char* h : {"203.0.113.1", "203.0.113.2"}) {
      f.store.Unblock({SubjectKind::kHost, h}, f.now, &was, &f.err);
    }
    SyncChanges again;
    if (!SyncAll(f.target, f.now, &again, &f.err)) return "again: " + f.err;
    // A removed element shows the kernel's count-down: not compared.
    for (FirewallElement& e : again.removed) e.timeout = 0;
    return log + "again:\n" + DescribeChanges(again);
  });
  CHECK(result ==
        "created the table\n"
        "+ 2001:db8:0:6::/64 (3006s)\n"
        "+ 2001:db8:0:5::/64 (3005s)\n"
        "+ 203.0.113.3 (300s)\n"
        "+ 203.0.113.2 (200s)\n"
        "! firewall.max_elements reached: 5 blocked host(s) not dropped\n"
        "again:\n"
        "+ 2001:db8:0:4::/64 (3004s)\n"
        "- 203.0.113.2 (permanent)\n"
        "! firewall.max_elements reached: 3 blocked host(s) not dropped\n");
}

// After a boot, an nftables reload or `firewall flush`, the first sync adds
// every blocked host to empty sets: one "add" (an add, delete and add per
// element took 96 s for 20,000 in nft 1.0.6, the sets empty meanwhile).
TEST_CASE("a first sync puts 20000 blocked hosts in the kernel's sets" *
          doctest::skip(geteuid() != 0)) {
  const std::string result = InNetns([]() -> std::string {
    SyncFixture f("pd_many", 65536);
    for (int i = 0; i < 20000; ++i) {
      f.Block("10." + std::to_string(i / 250 + 1) + "." +
                  std::to_string(i % 250) + ".1",
              i % 2 ? 0 : f.now + 600 + i);
    }
    SyncChanges c;
    if (!SyncAll(f.target, f.now, &c, &f.err)) return "sync: " + f.err;
    std::vector<FirewallElement> have;
    bool exists = false;
    if (!f.fw.List(&have, &exists, &f.err)) return "list: " + f.err;
    const auto permanent =
        std::count_if(have.begin(), have.end(),
                      [](const FirewallElement& e) { return e.timeout == 0; });
    return std::to_string(c.added.size()) + " added, " +
           std::to_string(have.size()) + " listed, " +
           std::to_string(permanent) + " permanent";
  });
  CHECK(result == "20000 added, 20000 listed, 10000 permanent");
}

// The rescue of an administrator who allow-lists their own address after
// it was dropped: the unblock's event (or `firewall del`) removes the
// element although the guard now refuses the host.
TEST_CASE("SyncHosts applies a burst of events with one listing" *
          doctest::skip(geteuid() != 0)) {
  const std::string result = InNetns([]() -> std::string {
    SyncFixture f("pd_burst", 4);
    const int64_t now = f.now;
    f.Block("203.0.113.1", now + 100);
    f.Block("203.0.113.2", now + 200);
    SyncChanges c;
    if (!SyncAll(f.target, now, &c, &f.err)) return "sync: " + f.err;
    // Then, before the events come: .2 unblocked, .1 blocked for longer,
    // three more blocked, 198.51.100.9 never was (a forged event).
    bool was = false;
    f.store.Unblock({SubjectKind::kHost, "203.0.113.2"}, now, &was, &f.err);
    f.Block("203.0.113.1", now + 1000);
    f.Block("203.0.113.3", now + 300);
    f.Block("203.0.113.4", 0);
    f.Block("203.0.113.5", now + 50);
    const std::vector<std::string> burst = {
        "203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4",
        "203.0.113.5", "203.0.113.3", "127.0.0.1",   "198.51.100.9"};
    size_t present = 0;
    SyncChanges b;
    if (!SyncHosts(f.target, burst, now + 1, &present, &b, &f.err)) {
      return "burst: " + f.err;
    }
    // A removed element shows the kernel's count-down: not compared.
    for (FirewallElement& e : b.removed) e.timeout = 0;
    std::string log = DescribeChanges(b);
    for (const std::string& h : b.not_blocked) log += "not blocked " + h + "\n";
    log += "present " + std::to_string(present) + "\n";
    std::vector<FirewallElement> have;
    bool exists = false;
    if (!f.fw.List(&have, &exists, &f.err)) return "list: " + f.err;
    for (const FirewallElement& e : have) log += "listed " + e.addr + "\n";
    // The sets are full (4): one more is left out.
    f.Block("203.0.113.6", now + 100);
    SyncChanges full;
    const std::vector<std::string> more = {"203.0.113.6"};
    if (!SyncHosts(f.target, more, now + 2, &present, &full, &f.err)) {
      return "full: " + f.err;
    }
    log += "full:\n" + DescribeChanges(full);
    log += "present " + std::to_string(present) + "\n";
    return log;
  });
  CHECK(result ==
        "+ 203.0.113.3 (299s)\n"
        "+ 203.0.113.4 (permanent)\n"
        "+ 203.0.113.5 (49s)\n"
        "~ 203.0.113.1 (999s)\n"
        "- 203.0.113.2 (permanent)\n"
        "! 127.0.0.1 not dropped: a loopback or unspecified address\n"
        "not blocked 198.51.100.9\n"
        "present 4\n"
        "listed 203.0.113.1\n"
        "listed 203.0.113.3\n"
        "listed 203.0.113.4\n"
        "listed 203.0.113.5\n"
        "full:\n"
        "! firewall.max_elements reached: 1 blocked host(s) not dropped\n"
        "present 4\n");
}

// A record the store cannot read (damaged, say) holds up only its own
// event: the others of the burst are applied, its element stays as it was,
// and a sync of it alone fails with the store's error.
TEST_CASE("SyncHosts applies the events whose records it can read" *
          doctest::skip(geteuid() != 0)) {
  const std::string result = InNetns([]() -> std::string {
    SyncFixture f("pd_unread", 10);
    const int64_t now = f.now;
    f.Block("203.0.113.1", now + 100);
    f.Block("203.0.113.2", now + 200);
    SyncChanges c;
    if (!SyncAll(f.target, now, &c, &f.err)) return "sync: " + f.err;
    bool was = false;
    f.Block("203.0.113.1", now + 1000);
    f.store.Unblock({SubjectKind::kHost, "203.0.113.2"}, now, &was, &f.err);
    f.Block("203.0.113.3", now + 300);
    f.store.set_unreadable("203.0.113.2");
    const std::vector<std::string> burst = {"203.0.113.1", "203.0.113.2",
                                            "203.0.113.3"};
    size_t present = 0;
    SyncChanges b;
    if (!SyncHosts(f.target, burst, now + 1, &present, &b, &f.err)) {
      return "burst: " + f.err;
    }
    std::string log = DescribeChanges(b);
    for (const auto& [h, why] : b.unread)
      log += "unread " + h + ": " + why + "\n";
    log += "present " + std::to_string(present) + "\n";
    std::vector<FirewallElement> have;
    bool exists = false;
    if (!f.fw.List(&have, &exists, &f.err)) return "list: " + f.err;
    for (const FirewallElement& e : have) log += "listed " + e.addr + "\n";
    SyncChanges one;
    std::string err;
    log += SyncOne(f.target, "203.0.113.2", now + 2, &present, &one, &err)
               ? "one: applied\n"
               : "one: " + err + "\n";
    return log;
  });
  CHECK(result ==
        "+ 203.0.113.3 (299s)\n"
        "~ 203.0.113.1 (999s)\n"
        "unread 203.0.113.2: memory store: 203.0.113.2: injected read "
        "failure\n"
        "present 3\n"
        "listed 203.0.113.1\n"
        "listed 203.0.113.2\n"
        "listed 203.0.113.3\n"
        "one: memory store: 203.0.113.2: injected read failure\n");
}

TEST_CASE("SyncOne removes the element of a host the guard now refuses" *
          doctest::skip(geteuid() != 0)) {
  const std::string result = InNetns([]() -> std::string {
    SyncFixture f("pd_refused", 10);
    f.Block("203.0.113.77", f.now + 600);
    SyncChanges c;
    if (!SyncAll(f.target, f.now, &c, &f.err)) return "sync: " + f.err;
    std::string log = DescribeChanges(c);
    Config allowed;
    allowed.allow_hosts = {*ParseCidr("203.0.113.0/24", &f.err)};
    const FirewallGuard guard(allowed, {});
    const SyncTarget t{&f.fw, &f.store, &guard, 10};
    size_t present = 9;
    SyncChanges one;
    if (!SyncOne(t, "203.0.113.77", f.now + 1, &present, &one, &f.err) ||
        !SyncOne(t, "attacker.example", f.now + 1, &present, &one, &f.err)) {
      return "one: " + f.err;
    }
    for (FirewallElement& e : one.removed) e.timeout = 0;
    log += "one:\n" + DescribeChanges(one);
    std::vector<FirewallElement> left;
    bool exists = false;
    if (!f.fw.List(&left, &exists, &f.err)) return "list: " + f.err;
    return log + "left " + std::to_string(left.size()) + ", present " +
           std::to_string(present) + "\n";
  });
  CHECK(result ==
        "created the table\n"
        "+ 203.0.113.77 (600s)\n"
        "one:\n"
        "- 203.0.113.77 (permanent)\n"
        "! 203.0.113.77 not dropped: in lockout.allow_hosts (203.0.113.0/24)\n"
        "! attacker.example not dropped: not an IP address (a host name "
        "cannot be dropped)\n"
        "left 0, present 0\n");
}

// Every table Ensure makes, whatever the ports and action, and after they
// change, is judged ours by the kernel's own listing.
TEST_CASE("the tables Ensure makes are pam_defender's" *
          doctest::skip(geteuid() != 0)) {
  const std::string result = InNetns([]() -> std::string {
    std::string log;
    for (const std::vector<int64_t>& ports :
         std::vector<std::vector<int64_t>>{{22}, {}, {22, 2222, 65535}}) {
      for (const bool reject : {false, true}) {
        FirewallSettings s;
        s.table = "pd_shapes";
        s.ports = ports;
        s.reject = reject;
        Firewall fw(s);
        bool created = false;
        std::string err;
        std::vector<FirewallElement> have;
        bool exists = false;
        if (!fw.Ensure(&created, &err) || !fw.List(&have, &exists, &err)) {
          log += std::to_string(ports.size()) + " ports, " +
                 (reject ? "reject" : "drop") + ": " + err + "\n";
        }
      }
    }
    Firewall fw(TableSettings("pd_shapes"));
    bool existed = false;
    std::string err;
    if (!fw.Remove(&existed, &err) || !existed) log += "remove: " + err + "\n";
    return log;
  });
  CHECK(result == "");
}

// firewall.table naming a table that is not ours (Debian's "inet filter",
// which /etc/nftables.conf loads): no command changes or deletes it, and
// each says why (the package's removal runs `firewall flush`).
TEST_CASE("a table that is not pam_defender's is never changed or deleted" *
          doctest::skip(geteuid() != 0)) {
  const std::string result = InNetns([]() -> std::string {
    Nft nft;
    std::string out;
    std::string err;
    if (!nft.Run("add table inet filter\n"
                 "add chain inet filter input { type filter hook input "
                 "priority filter; policy drop; }\n"
                 "add rule inet filter input tcp dport 22 accept\n"
                 "add chain inet filter forward { type filter hook forward "
                 "priority filter; policy drop; }\n",
                 Nft::Output::kText, &out, &err)) {
      return "setup: " + err;
    }
    std::string before;
    if (!nft.Run("list ruleset", Nft::Output::kText, &before, &err)) {
      return "list: " + err;
    }
    SyncFixture f("filter", 10);
    f.Block("203.0.113.5", f.now + 600);
    std::string log;
    bool flag = false;
    if (!f.fw.Ensure(&flag, &err)) log += "ensure: " + err + "\n";
    std::vector<FirewallElement> elements;
    if (!f.fw.List(&elements, &flag, &err)) log += "list: " + err + "\n";
    if (!f.fw.Remove(&flag, &err)) log += "remove: " + err + "\n";
    SyncChanges c;
    if (!SyncAll(f.target, f.now, &c, &err)) log += "sync: failed\n";
    std::string after;
    if (!nft.Run("list ruleset", Nft::Output::kText, &after, &err)) {
      return "list: " + err;
    }
    log += after == before ? "ruleset unchanged\n" : "ruleset changed\n";
    // Our own table, made by Ensure, is ours: a sync and a flush work.
    SyncFixture own("pam_defender", 10);
    own.Block("203.0.113.5", own.now + 600);
    SyncChanges ours;
    if (!SyncAll(own.target, own.now, &ours, &err)) return "own: " + err;
    if (!own.fw.Remove(&flag, &err) || !flag) return "own remove: " + err;
    return log;
  });
  const std::string why =
      "table inet filter holds chain input: it is not pam_defender's table, "
      "and is left alone (set firewall.table to a name no other table has)\n";
  CHECK(result == "ensure: " + why + "list: " + why + "remove: " + why +
                      "sync: failed\nruleset unchanged\n");
}

// A block of years is written to nft in days (nft 1.0.6 refuses 100,000,000
// seconds and more written in seconds, and the whole transaction with it):
// a 5-year block goes in with its timeout next to a 5-minute one. A block
// with more than ten years left (hand-made, or from a hostile Redis) is an
// element without a timeout, which a sync removes when the block ends.
TEST_CASE("blocks of years reach the kernel firewall" *
          doctest::skip(geteuid() != 0)) {
  const std::string result = InNetns([]() -> std::string {
    SyncFixture f("pd_years", 100);
    const int64_t five_years = 5LL * 365 * 86400;  // 157,680,000 s.
    f.Block("198.51.100.7", f.now + 300);
    f.Block("203.0.113.9", f.now + five_years);
    f.Block("203.0.113.10", INT64_MAX);
    SyncChanges c;
    if (!SyncAll(f.target, f.now, &c, &f.err)) return "sync: " + f.err;
    std::vector<FirewallElement> have;
    bool exists = false;
    if (!f.fw.List(&have, &exists, &f.err)) return "list: " + f.err;
    std::string log;
    for (const FirewallElement& e : have) {
      // The kernel counts down from the moment it was given the element.
      const int64_t want = e.addr == "198.51.100.7"  ? 300
                           : e.addr == "203.0.113.9" ? five_years
                                                     : 0;
      log += e.addr + (std::abs(e.timeout - want) <= 2
                           ? " ok\n"
                           : " " + std::to_string(e.timeout) + "\n");
    }
    bool existed = false;
    f.fw.Remove(&existed, &f.err);
    return log;
  });
  CHECK(result ==
        "198.51.100.7 ok\n"
        "203.0.113.10 ok\n"
        "203.0.113.9 ok\n");
}

}  // namespace
}  // namespace defender::ctl
