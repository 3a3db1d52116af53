#include "defenderctl/subjects.h"

#include <algorithm>

#include "common/normalize.h"

namespace defender::ctl {

bool SubjectsFromArgs(const Config& cfg, const std::optional<std::string>& user,
                      const std::optional<std::string>& host,
                      std::vector<Subject>* out, std::string* err) {
  if (user) {
    std::optional<std::string> u = NormalizeUser(*user, cfg.fold_username_case);
    if (!u) {
      *err = "--user: empty user name";
      return false;
    }
    out->push_back(Subject{SubjectKind::kUser, *u});
  }
  if (host) {
    std::optional<Host> h =
        NormalizeHost(*host, static_cast<int>(cfg.ipv6_prefix));
    if (!h) {
      *err = "--host: empty host";
      return false;
    }
    out->push_back(Subject{SubjectKind::kHost, h->subject});
  }
  return true;
}

std::string ExemptionOf(const Config& cfg, const Subject& s) {
  if (s.kind == SubjectKind::kUser) {
    if (cfg.disable_user_lockout) return "disable_user_lockout = true";
    if (s.name == "root" && !cfg.even_deny_root) {
      return "root is never blocked (even_deny_root = false)";
    }
    if (std::find(cfg.allow_users.begin(), cfg.allow_users.end(), s.name) !=
        cfg.allow_users.end()) {
      return "in allow_users";
    }
    return "";
  }
  if (cfg.disable_host_lockout) return "disable_host_lockout = true";
  // A normalised host is an address, a /prefix network, or a name; only
  // addresses can match allow_hosts (as in the module).
  const std::string addr = s.name.substr(0, s.name.find('/'));
  const std::optional<IpAddress> ip = ParseIp(addr);
  if (ip && std::any_of(cfg.allow_hosts.begin(), cfg.allow_hosts.end(),
                        [&](const Cidr& n) { return n.Contains(*ip); })) {
    return "in allow_hosts";
  }
  return "";
}

}  // namespace defender::ctl
