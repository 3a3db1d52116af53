// The PAM stacks compared by the benchmark, written as service files in a
// private PAM configuration directory (pam_start_confdir), each with its own
// state (store directory with its attempt log, faillock tally directory, Redis
// key prefix) so that stacks and scenarios never share state.
#ifndef PAM_DEFENDER_BENCH_STACKS_H_
#define PAM_DEFENDER_BENCH_STACKS_H_

#include <string>
#include <vector>

namespace bench {

enum class StackKind {
  kBaseline,       // The password check only (pam_matrix), no lockout.
  kFaillock,       // pam_faillock preauth/authfail/authsucc + account.
  kDefenderLocal,  // pam_defender on its local store (record files).
  kDefenderRedis,  // pam_defender on Redis (on_error = closed).
};

// What the stacks are built from.
struct StackEnv {
  std::string defender_module;  // Path of pam_defender.so.
  std::string matrix_module;    // Path of pam_matrix.so (pam_wrapper).
  std::string passdb;           // pam_matrix password file.
  int redis_port = 0;           // 0: no Redis stack.
};

struct StackOptions {
  int failure_limit = 3;        // deny= for faillock (which blocks at
                                // deny failures: limit + 1 is written).
  int lockout_seconds = 86400;  // unlock_time= / cooloff_time.
  std::string key_prefix;       // Redis keys of this scenario.
  // lockout.remember_hosts_days of the pam_defender stacks; -1: the
  // default of the config (doc/DESIGN.md §3.14).
  int remember_days = -1;
};

struct Stack {
  std::string name;  // Label in results: "baseline", "faillock", ...
  StackKind kind;
  std::string service;  // PAM service name in `confdir`.
  std::string confdir;
  std::string state;   // Attempt log in the store dir, or tally directory.
  std::string config;  // pam_defender's TOML file ("" for others).
};

// Writes the service file (and config) of stack `name` of `kind` under
// `dir` (created), and the single-step services "<name>-preauth",
// "<name>-authfail" and "<name>-authsucc" for lockout stacks, and
// "<name>-loadonly", which loads the stack's module without calling it
// (the password, when right, ends the stack before it; bench/README.md
// "Where the difference is"). Returns false with *err set on I/O errors.
bool WriteStack(const StackEnv& env, const StackOptions& opts,
                const std::string& dir, const std::string& name, StackKind kind,
                Stack* out, std::string* err);

// Returns once the stacks' configuration files changed two seconds ago or
// more: the module parses a file whose change time is in the second of a
// login or the one before in every step, and compiles it as the current
// version only once it is older (doc/DESIGN.md §11.1).
void WaitForSettledConfigs(const std::vector<Stack>& stacks);

// Writes `text` to `path`; false with *err on failure.
bool WriteFile(const std::string& path, const std::string& text,
               std::string* err);

// mkdir -p; false with *err on failure.
bool MakeDirs(const std::string& path, std::string* err);

}  // namespace bench

#endif  // PAM_DEFENDER_BENCH_STACKS_H_
