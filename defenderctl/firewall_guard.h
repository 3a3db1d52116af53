// Which host subjects may become elements of the firewall's sets
// (doc/DESIGN.md §15). Whatever the store or an event names, only a single
// IPv4 address, an IPv6 prefix of exactly lockout.ipv6_prefix bits (a single
// IPv6 address only when that is 128: the sets' intervals never overlap), in
// the canonical form the module writes, is ever admitted; never a wider
// range, a loopback, unspecified, link-local or multicast address, anything
// that overlaps lockout.allow_hosts, or a network holding one of this
// machine's own addresses or one it needs (its Redis, name servers,
// gateways).
#ifndef PAM_DEFENDER_DEFENDERCTL_FIREWALL_GUARD_H_
#define PAM_DEFENDER_DEFENDERCTL_FIREWALL_GUARD_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/normalize.h"
#include "defenderctl/firewall.h"

namespace defender::ctl {

// This machine's addresses (getifaddrs), every interface.
std::vector<IpAddress> LocalAddresses();

// Why no host may be dropped at all under `cfg`, when its configuration
// makes a host block refuse no login (the firewall must not refuse what the
// module would let in): lockout.mode = "report", disable_host_lockout, or
// by_user_and_host (a host block refuses a login alone only for users
// never blocked, such as root), unless disable_user_lockout is set too
// (then a host block alone refuses every login). Empty otherwise.
std::string FirewallOffReason(const Config& cfg);

class FirewallGuard {
 public:
  // `local`: this machine's addresses, never dropped (LocalAddresses()). A
  // test build may pass `allow_local` to admit loopback and own addresses;
  // the installed program never does. `needed`: addresses this machine
  // needs to reach (NeededAddresses(), firewall_needed.h), never dropped
  // either, whatever `allow_local`.
  FirewallGuard(const Config& cfg, std::vector<IpAddress> local,
                bool allow_local = false, std::vector<IpAddress> needed = {});

  // True with *out set (timeout 0) when the host subject may be dropped;
  // otherwise false with *why saying which rule refuses it.
  bool Admit(std::string_view subject, FirewallElement* out,
             std::string* why) const;

  // FirewallOffReason() of the configuration: when it is not empty, Admit()
  // refuses every subject with it.
  const std::string& off() const { return off_; }

 private:
  std::string off_;
  int ipv6_prefix_;
  std::vector<Cidr> allow_;
  std::vector<IpAddress> local_;
  bool allow_local_;
  std::vector<IpAddress> needed_;
};

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_FIREWALL_GUARD_H_
