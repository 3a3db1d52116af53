// The conveniences of the hardening tests on top of tests/support: an Env
// with the standard stack and logins with the suite's defaults (run through
// the real libpam by tests/support/pam_stack.h), reads
// the local store back with plain SQL, and captures what the module sends
// to syslog.
//
// Log capture: the test executables define syslog(3) and its fortified
// variants, so libpam's pam_syslog() (called by the module) lands in
// CapturedLog() instead of the host's syslog.
#ifndef PAM_DEFENDER_TESTS_HARDENING_HARNESS_H_
#define PAM_DEFENDER_TESTS_HARDENING_HARNESS_H_

#include <security/pam_appl.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/pam_stack.h"
#include "tests/support/process.h"

namespace hardening {

// The shared mechanism (tests/support), by the names the hardening tests
// use.
using defender::testing::Exists;
using defender::testing::ForkPiped;
using defender::testing::InChild;
using defender::testing::Mapped;
using defender::testing::ModulePath;
using defender::testing::PamMatrixPath;
using defender::testing::ReadFile;
using defender::testing::SetNow;
using defender::testing::Spawn;
using defender::testing::TempDir;
using defender::testing::WriteFile;

// Runs argv (no shell, its output discarded) and returns its exit status.
inline int Run(const std::vector<std::string>& argv) {
  return Spawn(argv).status;
}

// A test environment: a config file, a password database for pam_matrix
// (alice:secret, bob:secret, and games:secret for a test that needs an
// account of the system's user database) and a service "login" with the stack
// of doc/DESIGN.md §7 (pam_matrix in place of pam_unix), all in one temporary
// directory.
class Env {
 public:
  // `config_extra` is appended to the generated config, whose [store] dir
  // is `state_dir` (default: <dir>/state); db() is the attempt archive
  // there, attempts.db.
  explicit Env(const std::string& config_extra = "",
               const std::string& module_args = "",
               std::optional<std::string> state_dir = std::nullopt);

  const std::string& dir() const { return tmp_.path(); }
  const std::string& db() const { return db_; }
  const std::string& conf() const { return conf_; }
  const std::string& confdir() const { return confdir_; }
  // Rewrites the config with new extra text.
  void SetConfig(const std::string& config_extra);
  // Writes an extra service file.
  void WriteService(const std::string& name, const std::string& text);
  // "MODULE ARGS conf=CONF" for a service line.
  std::string ModuleLine(const std::string& args) const;

 private:
  TempDir tmp_;
  std::string path_, db_, conf_, confdir_, module_args_;
};

struct Login {
  std::string service = "login";
  // nullopt: PAM_USER is not set and the conversation is asked for it
  // (answered with `prompted_user`).
  std::optional<std::string> user = "alice";
  std::string prompted_user;
  std::optional<std::string> rhost = "192.0.2.10";
  std::optional<std::string> tty = "ssh";
  std::optional<std::string> ruser;  // PAM_RUSER (su and sudo set it).
  std::string password = "wrong";
  int flags = 0;
  bool account = true;  // Also run pam_acct_mgmt after a successful auth.
  // Called with each message a module shows, while it runs.
  std::function<void(const std::string&)> on_message;
};

struct LoginResult {
  int auth = -1;                      // pam_authenticate's result.
  int account = -1;                   // pam_acct_mgmt's, if it ran.
  std::vector<std::string> prompts;   // Prompts and messages, in order.
  std::vector<std::string> messages;  // PAM_TEXT_INFO / PAM_ERROR_MSG only.
  double seconds = 0;                 // Wall time of the whole transaction.
};

// One login through libpam with the service files of `env`. Without
// `authenticate` only pam_start and pam_end run (the modules are loaded,
// and closed; pam_defender stays loaded: -z nodelete).
LoginResult RunLogin(const Env& env, const Login& login,
                     bool authenticate = true);

// alice logs in with her password (from the default host): auth and
// account succeed and no message is shown.
void CheckNormalLogin(const Env& env);

// With failure_limit = 1: bob from 198.51.100.1 fails twice (blocking
// bob) and alice (the default login) fails once; requires bob's row to be
// blocked. Returns bob's login.
Login BlockBob(const Env& env);

// After `hostile` was blocked (failure_limit = 2, the default 5-minute
// cooloff): alice with her password from another host logs in, and
// `hostile` with alice's password is refused with the lockout message.
void CheckOnlyHostileRefused(const Env& env, Login hostile);

// Calls the module's pam_sm_authenticate (or pam_sm_acct_mgmt) directly on
// a real PAM handle (service "direct", items from `login`) to observe one
// step's exact return code.
int CallStep(const Env& env, bool account, const std::string& args,
             const Login& login);

// What the module sent to syslog since the last ClearLog().
std::vector<std::string>& CapturedLog();
void ClearLog();
// True when some captured line contains `needle`.
bool LogHas(const std::string& needle);
std::string LogText();

// Rows of the store (tests/support/store_sql.h) and the attempt log, read
// with plain SQL; `db` is the attempt log, the store is in its directory.
struct SubjectRow {
  std::string kind, subject;
  int64_t failures = 0, blocked = 0, expires = 0;
};
struct AttemptRow {
  std::string service, user, host, tty, result;
};
std::vector<SubjectRow> Subjects(const std::string& db);
// The attempt log of the store `db`: its journal moved into the archive
// beside it first (AttemptArchive::Ingest), which adds the damaged journal
// bytes it skipped to *skipped_bytes when given.
std::vector<AttemptRow> Attempts(const std::string& db,
                                 int64_t* skipped_bytes = nullptr);
std::optional<SubjectRow> FindSubject(const std::string& db,
                                      const std::string& kind,
                                      const std::string& subject);
// Failures of the subject, 0 if absent.
int64_t Failures(const std::string& db, const std::string& kind,
                 const std::string& subject);
// "ok" when PRAGMA integrity_check passes, else its first message.
std::string IntegrityCheck(const std::string& db);
// Runs one SQL statement on `db` (for test setup); true on success.
bool ExecSql(const std::string& db, const std::string& sql,
             int busy_timeout_ms = 0);

// The contract for stored text (doc/DESIGN.md §2, normalize.h): at most 256
// bytes, valid UTF-8, no C0 control or DEL, every '%' starting an upper-case
// "%XX".
bool IsBoundedPrintable(const std::string& s, size_t max_bytes = 256);

// Runs the doctest suite; exits 77 (skipped) when `needs_root` and not root.
int RunTests(int argc, char** argv, bool needs_root);

}  // namespace hardening

#endif  // PAM_DEFENDER_TESTS_HARDENING_HARNESS_H_
