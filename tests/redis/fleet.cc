#include "tests/redis/fleet.h"

#include <doctest/doctest.h>
#include <security/pam_appl.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

namespace defender::testing {
namespace {

constexpr char kMatrix[] =
    "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so";
constexpr char kDeny[] = "/lib/x86_64-linux-gnu/security/pam_deny.so";

}  // namespace

void SetNow(int64_t now) {
  setenv("PAM_DEFENDER_TEST_NOW", std::to_string(now).c_str(), 1);
}

FleetHost::FleetHost(const std::string& service, const std::string& redis_toml,
                     const std::string& lockout_toml)
    : service_(service) {
  const char* module = getenv("DEFENDER_TEST_MODULE");
  REQUIRE_MESSAGE(module != nullptr, "DEFENDER_TEST_MODULE is not set");
  db_ = dir_.path() + "/defender.db";
  conf_ =
      dir_.Write("defender.toml",
                 "[lockout]\nfailure_limit = 3\ncooloff_time = 600\n" +
                     lockout_toml + "\n[store]\nbackend = \"redis\"\n" +
                     "path = \"" + db_ + "\"\n\n[redis]\n" + redis_toml + "\n");
  const std::string passdb =
      dir_.Write("passdb", "alice:right:" + service + "\nbob:right:" + service +
                               "\nvictim:right:" + service + "\n");
  const std::string mod = std::string(module) + " ";
  const std::string conf = " conf=" + conf_ + "\n";
  mkdir((dir_.path() + "/pam.d").c_str(), 0755);
  dir_.Write("pam.d/" + service,
             "auth required " + mod + "preauth" + conf +
                 "auth [success=1 default=bad] " + kMatrix +
                 " passdb=" + passdb + "\n" + "auth [default=die] " + mod +
                 "authfail" + conf + "auth sufficient " + mod + "authsucc" +
                 conf + "auth required " + kDeny + "\n" + "account required " +
                 mod + "enforce" + conf,
             0644);
}

pam_handle_t* FleetHost::Start(const std::string& user, PamConversation* talk,
                               const std::string& rhost) const {
  const pam_conv conv = talk->conv();
  pam_handle_t* pamh = nullptr;
  const std::string confdir = dir_.path() + "/pam.d";
  REQUIRE(pam_start_confdir(service_.c_str(), user.c_str(), &conv,
                            confdir.c_str(), &pamh) == PAM_SUCCESS);
  if (!rhost.empty()) pam_set_item(pamh, PAM_RHOST, rhost.c_str());
  return pamh;
}

FleetHost::Result FleetHost::Login(const std::string& user,
                                   const std::string& password,
                                   const std::string& rhost) const {
  Result result;
  const int64_t start = NowMs();
  PamConversation talk(password);
  pam_handle_t* pamh = Start(user, &talk, rhost);
  result.auth = pam_authenticate(pamh, 0);
  if (result.auth == PAM_SUCCESS) result.account = pam_acct_mgmt(pamh, 0);
  pam_end(pamh, result.auth);
  result.ms = NowMs() - start;
  return result;
}

}  // namespace defender::testing
