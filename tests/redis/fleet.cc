#include "tests/redis/fleet.h"

#include <doctest/doctest.h>
#include <security/pam_appl.h>
#include <sys/stat.h>

namespace defender::testing {

FleetHost::FleetHost(const std::string& service, const std::string& redis_toml,
                     const std::string& lockout_toml)
    : service_(service) {
  db_ = dir_.path() + "/attempts.db";
  conf_ = dir_.Write("defender.toml",
                     "[lockout]\nfailure_limit = 3\ncooloff_time = 600\n" +
                         lockout_toml + "\n[store]\nbackend = \"redis\"\n" +
                         "dir = \"" + dir_.path() + "\"\n\n[redis]\n" +
                         redis_toml + "\n");
  const std::string passdb =
      dir_.Write("passdb", "alice:right:" + service + "\nbob:right:" + service +
                               "\nvictim:right:" + service + "\n");
  REQUIRE(mkdir((dir_ / "pam.d").c_str(), 0755) == 0);
  dir_.Write("pam.d/" + service,
             StandardStack(ModulePath(), "conf=" + conf_, passdb), 0644);
}

pam_handle_t* FleetHost::Start(const std::string& user, PamConversation* talk,
                               const std::string& rhost) const {
  pam_handle_t* pamh = StartPam(dir_ / "pam.d", Items(user, rhost), talk);
  REQUIRE(pamh != nullptr);
  return pamh;
}

PamLogin FleetHost::Items(const std::string& user,
                          const std::string& rhost) const {
  PamLogin login{.service = service_, .user = user};
  if (!rhost.empty()) login.rhost = rhost;
  return login;
}

FleetHost::Result FleetHost::Login(const std::string& user,
                                   const std::string& password,
                                   const std::string& rhost) const {
  PamLogin login = Items(user, rhost);
  login.password = login.echo_on = password;
  const PamOutcome o = RunPam(dir_ / "pam.d", login);
  return Result{o.auth, o.account, static_cast<int64_t>(o.seconds * 1000)};
}

}  // namespace defender::testing
