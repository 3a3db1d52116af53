#include "defenderctl/firewall_guard.h"

#include <ifaddrs.h>

#include "defenderctl/firewall_needed.h"

namespace defender::ctl {
namespace {

// True when the networks a and b share an address.
bool Overlap(const Cidr& a, const Cidr& b) {
  return a.base.v6 == b.base.v6 && (a.Contains(b.base) || b.Contains(a.base));
}

// 169.254.0.0/16, 224.0.0.0/4 (multicast) and 255.255.255.255; fe80::/10
// and ff00::/8. Dropping one (a router's fe80::1, with ipv6_prefix = 128)
// on every host of a fleet would cut its neighbour discovery, not an
// attacker. (240.0.0.0/4 is left: some networks use it as private unicast.)
bool IsLinkLocalOrMulticast(const IpAddress& ip) {
  if (!ip.v6) {
    const bool broadcast = ip.bytes[0] == 255 && ip.bytes[1] == 255 &&
                           ip.bytes[2] == 255 && ip.bytes[3] == 255;
    return (ip.bytes[0] == 169 && ip.bytes[1] == 254) ||
           (ip.bytes[0] >= 224 && ip.bytes[0] < 240) || broadcast;
  }
  return ip.bytes[0] == 0xff ||
         (ip.bytes[0] == 0xfe && (ip.bytes[1] & 0xc0) == 0x80);
}

bool IsLoopbackOrUnspecified(const IpAddress& ip) {
  if (!ip.v6) return ip.bytes[0] == 127 || ip.bytes[0] == 0;
  IpAddress zero{true, {}};
  IpAddress one = zero;
  one.bytes[15] = 1;
  return ip == zero || ip == one;
}

}  // namespace

std::vector<IpAddress> LocalAddresses() {
  std::vector<IpAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (const std::optional<IpAddress> ip = IpOfSockaddr(i->ifa_addr)) {
      out.push_back(*ip);
    }
  }
  freeifaddrs(list);
  return out;
}

std::string FirewallOffReason(const Config& cfg) {
  if (cfg.report_only) return "lockout.mode = \"report\" refuses nothing";
  if (cfg.disable_host_lockout) {
    return "lockout.disable_host_lockout: a host block refuses nothing";
  }
  // With by_user_and_host a host block refuses a login alone only for a
  // user never blocked (root, allow_users), unless no user is ever blocked
  // (disable_user_lockout): then it refuses them all.
  if (cfg.by_user_and_host && !cfg.disable_user_lockout) {
    return "lockout.by_user_and_host: a host block alone refuses only users "
           "never blocked (root, allow_users)";
  }
  return "";
}

FirewallGuard::FirewallGuard(const Config& cfg, std::vector<IpAddress> local,
                             bool allow_local, std::vector<IpAddress> needed)
    : off_(FirewallOffReason(cfg)),
      ipv6_prefix_(static_cast<int>(cfg.ipv6_prefix)),
      allow_(cfg.allow_hosts),
      local_(std::move(local)),
      allow_local_(allow_local),
      needed_(std::move(needed)) {}

bool FirewallGuard::Admit(std::string_view subject, FirewallElement* out,
                          std::string* why) const {
  if (!off_.empty()) {
    *why = off_;
    return false;
  }
  const size_t slash = subject.find('/');
  const std::optional<IpAddress> ip = ParseIp(subject.substr(0, slash));
  if (!ip) {
    *why = "not an IP address (a host name cannot be dropped)";
    return false;
  }
  Cidr net{*ip, ip->bits()};
  std::string canonical = FormatIp(*ip);
  if (slash != std::string_view::npos) {
    std::string err;
    const std::optional<Cidr> parsed = ParseCidr(subject, &err);
    // With ipv6_prefix = 128 the subject is the bare address: "X/128"
    // would be a second spelling of it.
    if (!parsed || !ip->v6 || parsed->prefix != ipv6_prefix_ ||
        ipv6_prefix_ == 128) {
      *why = "a network other than an IPv6 /" + std::to_string(ipv6_prefix_);
      return false;
    }
    net = *parsed;
    canonical = net.ToString();
  }
  if (canonical != subject) {
    *why = "not in canonical form";
    return false;
  }
  if (!allow_local_ && IsLoopbackOrUnspecified(net.base)) {
    *why = "a loopback or unspecified address";
    return false;
  }
  if (IsLinkLocalOrMulticast(net.base)) {
    *why = "a link-local or multicast address";
    return false;
  }
  if (slash == std::string_view::npos && ip->v6 && ipv6_prefix_ != 128) {
    // What the module counts is the /ipv6_prefix network (the subject a
    // block names); a single address would overlap that network's element
    // (a block made before ipv6_prefix changed, or by a fleet member set
    // otherwise), and nft refuses a set with overlapping intervals: every
    // sync would fail.
    *why = "a single IPv6 address (lockout.ipv6_prefix is " +
           std::to_string(ipv6_prefix_) + ": blocks name /" +
           std::to_string(ipv6_prefix_) + " networks)";
    return false;
  }
  for (const Cidr& a : allow_) {
    if (Overlap(a, net)) {
      *why = "in lockout.allow_hosts (" + a.ToString() + ")";
      return false;
    }
  }
  if (!allow_local_) {
    for (const IpAddress& l : local_) {
      if (net.Contains(l)) {
        *why = "an address of this machine";
        return false;
      }
    }
  }
  for (const IpAddress& n : needed_) {
    if (net.Contains(n)) {
      *why =
          "an address this machine needs (its Redis, a name server or a "
          "gateway)";
      return false;
    }
  }
  *out = FirewallElement{ip->v6, canonical, 0};
  return true;
}

}  // namespace defender::ctl
