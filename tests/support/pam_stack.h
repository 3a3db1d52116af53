// Drives a PAM stack through the real libpam, as every suite that loads
// the module in-process does: the module and pam_matrix.so located one
// way, the standard stack of doc/DESIGN.md §7 written as a service file in
// a test's own confdir, handles started with pam_start_confdir() and their
// PAM items set, a login's auth and account steps run, and one module step
// called directly to observe its exact return code.
#ifndef DEFENDER_TESTS_SUPPORT_PAM_STACK_H_
#define DEFENDER_TESTS_SUPPORT_PAM_STACK_H_

#include <security/pam_appl.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/pam_conversation.h"

namespace defender::testing {

// The value of the environment variable `name` (set by meson test); fails
// the running test when it is unset.
std::string EnvPath(const char* name);

// The module under test: $DEFENDER_TEST_MODULE (its clock reads
// PAM_DEFENDER_TEST_NOW, see SetNow) or, with `real_clock`,
// $DEFENDER_MODULE.
std::string ModulePath(bool real_clock = false);

// pam_matrix.so of libpam-wrapper, the password check of the test stacks:
// $PAM_MATRIX_MODULE when set, else the multiarch path found at configure
// time.
std::string PamMatrixPath();

// Sets the test module's clock (PAM_DEFENDER_TEST_NOW) for this process and
// the programs it runs.
void SetNow(int64_t now);

// The standard stack of doc/DESIGN.md §7 with pam_matrix.so (checking
// `passdb`) in place of pam_unix. Each module line reads
// "MODULE STEP ARGS", e.g. ARGS = "conf=/tmp/x/defender.toml".
//
//   auth     required                 MODULE preauth ARGS
//   auth     [success=1 default=bad]  pam_matrix.so passdb=PASSDB
//   auth     [default=die]            MODULE authfail ARGS
//   auth     sufficient               MODULE authsucc ARGS
//   auth     required                 pam_deny.so
//   account  required                 MODULE enforce ARGS
std::string StandardStack(const std::string& module, const std::string& args,
                          const std::string& passdb);

// One PAM transaction: the service, the items set on the handle (nullopt:
// not set) and the answers of its conversation.
struct PamLogin {
  std::string service;
  // nullopt: PAM_USER is not set and the conversation is asked for it.
  std::optional<std::string> user;
  std::optional<std::string> rhost;
  std::optional<std::string> tty;
  std::optional<std::string> ruser;
  std::string password;  // Answer to PAM_PROMPT_ECHO_OFF.
  std::string echo_on;   // Answer to PAM_PROMPT_ECHO_ON (a user name).
  int flags = 0;
  bool authenticate = true;  // Run pam_authenticate.
  bool account = true;       // Run pam_acct_mgmt after a successful auth.
  // PamConversation::on_message.
  std::function<void(const std::string&)> on_message;
};

// pam_start_confdir() of `login.service` in `confdir` talking through
// `talk` (which must outlive the handle), with PAM_RHOST, PAM_TTY and
// PAM_RUSER set as `login` says. Returns nullptr if pam_start_confdir fails.
// The caller runs the steps and calls pam_end.
pam_handle_t* StartPam(const std::string& confdir, const PamLogin& login,
                       PamConversation* talk);

struct PamOutcome {
  int rc = -1;       // The first failing step's code, or PAM_SUCCESS.
  int auth = -1;     // pam_authenticate's, if it ran.
  int account = -1;  // pam_acct_mgmt's, if it ran.
  std::vector<std::string> prompts;   // Prompts and messages, in order.
  std::vector<std::string> messages;  // PAM_TEXT_INFO / PAM_ERROR_MSG only.
  double seconds = 0;                 // Wall time of the whole transaction.
};

// One login as a program runs it: pam_start_confdir, pam_authenticate and
// (if it succeeded) pam_acct_mgmt, pam_end. With neither step only
// pam_start and pam_end run (the modules are loaded and unloaded). Fails the
// running test if pam_start_confdir fails.
PamOutcome RunPam(const std::string& confdir, const PamLogin& login);

// Calls `module`'s pam_sm_authenticate (or pam_sm_acct_mgmt when `account`)
// directly with `args` on a real handle of `login.service` with the items
// of `login`. Returns its code and what it said.
PamOutcome CallModuleStep(const std::string& module, bool account,
                          const std::vector<std::string>& args,
                          const std::string& confdir, const PamLogin& login);

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_PAM_STACK_H_
