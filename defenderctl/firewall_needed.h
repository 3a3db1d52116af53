// The addresses this machine needs to reach, which the firewall never drops
// (doc/DESIGN.md §15): the Redis server and Sentinels of the configuration,
// the name servers of /etc/resolv.conf and the default gateways. A block of
// one of them (a shell user on the Redis host failing logins into a fleet
// member, or a Redis writer) would otherwise cut the watcher off from the
// store that could unblock it.
#ifndef PAM_DEFENDER_DEFENDERCTL_FIREWALL_NEEDED_H_
#define PAM_DEFENDER_DEFENDERCTL_FIREWALL_NEEDED_H_

#include <sys/socket.h>

#include <optional>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/normalize.h"

namespace defender::ctl {

// The address of an AF_INET or AF_INET6 socket address; nothing for others.
std::optional<IpAddress> IpOfSockaddr(const struct sockaddr* sa);

// The "nameserver ADDRESS" lines of a resolv.conf text (zone ids dropped).
std::vector<IpAddress> NameServersOf(std::string_view resolv_conf);

// The gateways of the default routes in /proc/net/route (IPv4: "Iface
// Destination Gateway ...", hex in host order) and /proc/net/ipv6_route
// (IPv6: destination, prefix length, ..., next hop as 32 hex digits).
std::vector<IpAddress> GatewaysOf(std::string_view route,
                                  std::string_view ipv6_route);

// The Redis server's and the Sentinels' addresses of `cfg` when it uses
// Redis: address literals as they are, host names resolved now, each within
// 1 s (resolve.h; one that does not resolve in time gives nothing: with DNS
// down every sync would otherwise wait the resolver's 10 s and more per
// name; the server `watch` reached is added by the watcher itself).
std::vector<IpAddress> RedisAddresses(const Config& cfg);

// The address of a RedisConnection::server() text, "host:port" (an IPv6
// host without brackets); nothing for a socket path or a host name.
std::optional<IpAddress> AddressOfServer(std::string_view server);

// All of the above, read from this machine.
std::vector<IpAddress> NeededAddresses(const Config& cfg);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_FIREWALL_NEEDED_H_
