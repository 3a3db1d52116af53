#include "defenderctl/firewall_needed.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "common/redis_url.h"
#include "common/resolve.h"

namespace defender::ctl {
namespace {

std::string ReadText(const char* path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

// `hex` (2 * n digits) as n bytes, in the order written.
bool HexBytes(std::string_view hex, size_t n, uint8_t* out) {
  if (hex.size() != 2 * n) return false;
  for (size_t i = 0; i < n; ++i) {
    const int hi = HexDigit(hex[2 * i]);
    const int lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

// A name lookup waits at most this long: with DNS down, glibc's resolver
// would take 10 s or more for each name, at every full sync.
constexpr auto kLookupBudget = std::chrono::seconds(1);

void AddResolved(const std::string& host, std::vector<IpAddress>* out) {
  if (const std::optional<IpAddress> ip = ParseIp(host)) {
    out->push_back(*ip);
    return;
  }
  AddrInfoPtr list;
  std::string err;
  if (!ResolveTcp(host, 6379, std::chrono::steady_clock::now() + kLookupBudget,
                  &list, &err)) {
    return;
  }
  for (const addrinfo* a = list.get(); a; a = a->ai_next) {
    if (const std::optional<IpAddress> ip = IpOfSockaddr(a->ai_addr)) {
      out->push_back(*ip);
    }
  }
}

}  // namespace

std::optional<IpAddress> IpOfSockaddr(const struct sockaddr* sa) {
  IpAddress ip;
  if (sa == nullptr) return std::nullopt;
  if (sa->sa_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(ip.bytes.data(), &sin->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ip.v6 = true;
    std::memcpy(ip.bytes.data(), &sin6->sin6_addr, 16);
  } else {
    return std::nullopt;
  }
  return ip;
}

std::vector<IpAddress> NameServersOf(std::string_view resolv_conf) {
  std::vector<IpAddress> out;
  std::istringstream in{std::string(resolv_conf)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key >> value) || key != "nameserver") continue;
    const std::optional<IpAddress> ip =
        ParseIp(value.substr(0, value.find('%')));
    if (ip) out.push_back(*ip);
  }
  return out;
}

std::vector<IpAddress> GatewaysOf(std::string_view route,
                                  std::string_view ipv6_route) {
  std::vector<IpAddress> out;
  std::istringstream v4{std::string(route)};
  std::string line;
  std::getline(v4, line);  // The header.
  while (std::getline(v4, line)) {
    std::istringstream f(line);
    std::string iface, dest, gateway;
    uint8_t g[4];
    if (!(f >> iface >> dest >> gateway) || dest != "00000000" ||
        !HexBytes(gateway, 4, g)) {
      continue;
    }
    // The kernel prints the address's 32 bits as a number in host order:
    // read the number, then lay it out as this machine stores it.
    const uint32_t value = static_cast<uint32_t>(g[0]) << 24 |
                           static_cast<uint32_t>(g[1]) << 16 |
                           static_cast<uint32_t>(g[2]) << 8 | g[3];
    IpAddress ip;
    std::memcpy(ip.bytes.data(), &value, 4);
    if (ip != IpAddress{}) out.push_back(ip);
  }
  std::istringstream v6{std::string(ipv6_route)};
  while (std::getline(v6, line)) {
    std::istringstream f(line);
    std::string dest, dest_len, src, src_len, hop;
    IpAddress ip;
    ip.v6 = true;
    if (!(f >> dest >> dest_len >> src >> src_len >> hop) ||
        dest != std::string(32, '0') || dest_len != "00" ||
        !HexBytes(hop, 16, ip.bytes.data())) {
      continue;
    }
    if (ip != IpAddress{true, {}}) out.push_back(ip);
  }
  return out;
}

std::vector<IpAddress> RedisAddresses(const Config& cfg) {
  std::vector<IpAddress> out;
  if (cfg.backend != StoreBackend::kRedis) return out;
  RedisAddress url;
  std::string err;
  if (ParseRedisUrl(cfg.redis_url, &url, &err) && !url.unix_socket) {
    AddResolved(url.host, &out);
  }
  for (const std::string& s : cfg.redis_sentinels) {
    std::string host;
    int port = 0;
    if (ParseHostPort(s, 26379, &host, &port, &err)) AddResolved(host, &out);
  }
  return out;
}

std::optional<IpAddress> AddressOfServer(std::string_view server) {
  const size_t colon = server.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return ParseIp(server.substr(0, colon));
}

std::vector<IpAddress> NeededAddresses(const Config& cfg) {
  std::vector<IpAddress> out = RedisAddresses(cfg);
  for (const IpAddress& ip : NameServersOf(ReadText("/etc/resolv.conf"))) {
    out.push_back(ip);
  }
  for (const IpAddress& ip : GatewaysOf(ReadText("/proc/net/route"),
                                        ReadText("/proc/net/ipv6_route"))) {
    out.push_back(ip);
  }
  return out;
}

}  // namespace defender::ctl
