// Drives pam_defender.so through the real libpam: service files written to a
// temporary confdir and opened with pam_start_confdir(), passwords checked
// by pam_wrapper's pam_matrix.so against a passdb file, PAM_RHOST set on the
// handle. Also calls a module's pam_sm_* directly on a real handle, to
// observe its exact return code.
#ifndef PAM_DEFENDER_TESTS_PAM_PAM_HARNESS_H_
#define PAM_DEFENDER_TESTS_PAM_PAM_HARNESS_H_

#include <security/pam_appl.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/pam_conversation.h"
#include "tests/support/pam_stack.h"

namespace defender::testing {

struct PamResult {
  int rc = -1;
  std::vector<std::string> info;  // PAM_TEXT_INFO messages shown.
};

class PamHarness {
 public:
  // `module` is the path of the module under test. Writes a config with
  // [store] dir in the temp dir plus `extra_toml`, a passdb where every
  // user's password is "right", and the standard stack of doc/DESIGN.md §7 as
  // service "defender-test" (module arguments: conf=<config> `args`).
  explicit PamHarness(std::string module, const std::string& extra_toml = "",
                      const std::string& args = "");

  // Rewrites the config file.
  void WriteConfig(const std::string& extra_toml);
  // Writes /<confdir>/<service> with `text`.
  void WriteService(const std::string& service, const std::string& text);

  // pam_authenticate + (if it succeeded) pam_acct_mgmt on one handle, as a
  // login does. Returns the first failing code, or PAM_SUCCESS.
  PamResult Login(const std::string& user, const std::string& rhost,
                  const std::string& password,
                  const std::string& service = "defender-test");
  // Several pam_authenticate calls on one handle, one per password, as sudo,
  // login and sshd do when they retry. Returns each call's code.
  // `before_each(i)`, if given, runs before call i (e.g. to move the clock).
  std::vector<int> Retries(
      const std::string& user, const std::string& rhost,
      const std::vector<std::string>& passwords,
      const std::function<void(size_t)>& before_each = nullptr);
  // Starts a handle of "defender-test" for `user` from `rhost` (tty "ssh")
  // that talks through `talk`, which must outlive it; the caller runs the
  // steps and calls pam_end. Returns nullptr if pam_start fails.
  pam_handle_t* Start(const std::string& user, const std::string& rhost,
                      PamConversation* talk) const;
  // pam_acct_mgmt alone (a key-based ssh login runs no auth stack).
  PamResult Account(const std::string& user, const std::string& rhost,
                    const std::string& service = "defender-test");

  // Calls the module's pam_sm_authenticate (or pam_sm_acct_mgmt when
  // `account`) directly with `args` on a fresh real handle whose PAM_USER
  // and PAM_RHOST are set.
  PamResult Direct(bool account, const std::vector<std::string>& args,
                   const std::string& user, const std::string& rhost,
                   int flags = 0);

  // Moves the test clock (PAM_DEFENDER_TEST_NOW; honoured by the testclock
  // module only).
  void SetNow(int64_t now);
  void Advance(int64_t seconds) { SetNow(now_ + seconds); }
  int64_t now() const { return now_; }

  // Runs a query on the store and the attempt log (tests/support/
  // store_sql.h) and returns the first column of each row.
  std::vector<std::string> Query(const std::string& sql) const;
  // Moves the attempt journal into the archive as defenderctl does
  // (AttemptArchive::Ingest), then runs a query on the archive.
  std::vector<std::string> QueryAttempts(const std::string& sql) const;

  const std::string& dir() const { return dir_.path(); }
  const std::string& config_path() const { return config_; }
  const std::string& db_path() const { return db_; }
  const std::string& module() const { return module_; }

 private:
  // The items of a login on `service` (tty "ssh").
  PamLogin Items(const std::string& service, const std::string& user,
                 const std::string& rhost) const;
  PamResult Run(PamLogin login);

  TempDir dir_;
  std::string module_;
  std::string config_;
  std::string db_;
  std::string confdir_;
  int64_t now_ = 0;
};

}  // namespace defender::testing

#endif  // PAM_DEFENDER_TESTS_PAM_PAM_HARNESS_H_
