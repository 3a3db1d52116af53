// "Hosts" of a fleet for PAM-level tests: each has its own config, local
// SQLite database and PAM service file, and logs users in through real
// libpam (pam_start_confdir) with pam_defender_testclock.so around
// pam_matrix.so, as in the documented stack:
//
//   auth     required                 pam_defender preauth
//   auth     [success=1 default=bad]  pam_matrix (the password check)
//   auth     [default=die]            pam_defender authfail
//   auth     sufficient               pam_defender authsucc
//   auth     required                 pam_deny
//   account  required                 pam_defender enforce
//
// Time comes from PAM_DEFENDER_TEST_NOW (see SetNow).
#ifndef PAM_DEFENDER_TESTS_REDIS_FLEET_H_
#define PAM_DEFENDER_TESTS_REDIS_FLEET_H_

#include <security/pam_appl.h>

#include <cstdint>
#include <string>

#include "tests/redis/redis_server.h"
#include "tests/support/pam_conversation.h"

namespace defender::testing {

// Sets the module's clock for this process and the ones it forks.
void SetNow(int64_t now);

// Every user's password in pam_matrix's database.
inline constexpr char kPassword[] = "right";

class FleetHost {
 public:
  // `service` names the host (and its PAM service). `redis_toml` is the
  // [redis] section body; `lockout_toml` extra [lockout] lines.
  FleetHost(const std::string& service, const std::string& redis_toml,
            const std::string& lockout_toml = "");

  struct Result {
    int auth = -1;     // pam_authenticate.
    int account = -1;  // pam_acct_mgmt, when auth succeeded.
    int64_t ms = 0;    // Wall time of the whole login.
  };
  // One login attempt of `user` from `rhost` with `password`.
  Result Login(const std::string& user, const std::string& password,
               const std::string& rhost) const;

  // Starts a PAM handle for `user` from `rhost` that talks through `talk`
  // (which must outlive the handle). The caller runs the steps and calls
  // pam_end.
  pam_handle_t* Start(const std::string& user, PamConversation* talk,
                      const std::string& rhost) const;

  const std::string& config_path() const { return conf_; }
  const std::string& db_path() const { return db_; }

 private:
  TempDir dir_;
  std::string service_;
  std::string conf_;
  std::string db_;
};

}  // namespace defender::testing

#endif  // PAM_DEFENDER_TESTS_REDIS_FLEET_H_
