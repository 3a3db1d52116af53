// "Hosts" of a fleet for PAM-level tests: each has its own config, local
// store directory and PAM service file (the standard stack of
// tests/support/pam_stack.h on pam_defender_testclock.so), and logs users in
// through real libpam. Time comes from PAM_DEFENDER_TEST_NOW (SetNow).
#ifndef PAM_DEFENDER_TESTS_REDIS_FLEET_H_
#define PAM_DEFENDER_TESTS_REDIS_FLEET_H_

#include <security/pam_appl.h>

#include <cstdint>
#include <string>

#include "tests/support/files.h"
#include "tests/support/pam_conversation.h"
#include "tests/support/pam_stack.h"
#include "tests/support/redis_server.h"

namespace defender::testing {

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
  // The host's store.dir: its local store and journal.
  const std::string& dir() const { return dir_.path(); }
  const std::string& db_path() const { return db_; }

 private:
  // The handle's service, user and (unless empty) rhost.
  PamLogin Items(const std::string& user, const std::string& rhost) const;

  TempDir dir_;
  std::string service_;
  std::string conf_;
  std::string db_;
};

}  // namespace defender::testing

#endif  // PAM_DEFENDER_TESTS_REDIS_FLEET_H_
