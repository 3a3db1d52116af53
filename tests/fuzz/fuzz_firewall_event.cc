// What the firewall watcher does with one message of the events channel
// (anyone with the Redis credentials can publish there): the event parser,
// then the guard on the subject it names. Nothing wider than one address
// or an IPv6 /64, nothing loopback or allow-listed, ever comes out.
#include <cstdint>
#include <string>
#include <string_view>

#include "defenderctl/firewall_event.h"
#include "defenderctl/firewall_guard.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace defender;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string subject;
  std::string why;
  bool block = false;
  const ctl::EventHint hint =
      ctl::ParseEventHint(text, &subject, &block, &why);
  if (hint == ctl::EventHint::kMalformed) {
    fuzz::Check(!why.empty(), "a malformed event says why");
    return 0;
  }
  if (hint != ctl::EventHint::kHost) return 0;
  fuzz::Check(!subject.empty() && subject.size() <= kMaxSubjectBytes,
              "the subject is bounded");
  static const Config cfg = [] {
    Config c;
    std::string err;
    c.allow_hosts = {*ParseCidr("10.0.0.0/8", &err),
                     *ParseCidr("2001:db8::/32", &err)};
    return c;
  }();
  static const ctl::FirewallGuard guard(cfg, {*ParseIp("192.0.2.1")});
  ctl::FirewallElement e;
  if (!guard.Admit(subject, &e, &why)) {
    fuzz::Check(!why.empty(), "a refusal says why");
    return 0;
  }
  const size_t slash = e.addr.find('/');
  const std::optional<IpAddress> ip = ParseIp(e.addr.substr(0, slash));
  fuzz::Check(ip.has_value() && ip->v6 == e.v6, "an element is an address");
  fuzz::Check(slash == std::string::npos || e.addr.substr(slash) == "/64",
              "a network is an IPv6 /64");
  fuzz::Check(e.addr == subject, "the element is the subject");
  Cidr net{*ip, slash == std::string::npos ? ip->bits() : 64};
  for (const Cidr& a : cfg.allow_hosts) {
    fuzz::Check(!a.Contains(net.base) && !net.Contains(a.base),
                "never an allow-listed address");
  }
  fuzz::Check(!(!ip->v6 && ip->bytes[0] == 127), "never IPv4 loopback");
  fuzz::Check(!net.Contains(*ParseIp("::1")) || !ip->v6,
              "never IPv6 loopback");
  fuzz::Check(!net.Contains(*ParseIp("192.0.2.1")), "never our own address");
  return 0;
}
