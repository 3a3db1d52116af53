// A sandbox for one defenderctl test: a temporary directory (removed at the
// end) with its own config (`[store] dir` inside it, never /var/lib), the
// test builds of defenderctl and pam_defender on a clock the test sets, and
// real logins through pamtester under pam_wrapper with pam_matrix as the
// password check.
#ifndef PAM_DEFENDER_TESTS_CLI_HARNESS_H_
#define PAM_DEFENDER_TESTS_CLI_HARNESS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/json.h"
#include "tests/support/pam_stack.h"
#include "tests/support/process.h"

namespace defender::testing {

// The time every sandbox starts at: 2027-01-15T08:00:00Z.
inline constexpr int64_t kT0 = 1'800'000'000;

class Sandbox {
 public:
  // Writes `config_extra` after a [store] section that points into the
  // sandbox (so it must not contain [store] itself; use WriteConfig for
  // that). The clock starts at kT0 and TZ is UTC.
  explicit Sandbox(const std::string& config_extra = "");
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const std::string& dir() const { return dir_.path(); }
  const std::string& config() const { return config_; }
  // The store's directory (store.dir): the record files in subjects/, the
  // attempt journal and archive.
  std::string state_dir() const { return dir_ / "state"; }

  // Replaces the config file with exactly `text`.
  void WriteConfig(const std::string& text);
  // Writes a file in the sandbox and returns its path.
  std::string WriteFile(const std::string& name, const std::string& text);

  // The clock of the CLI and the module (PAM_DEFENDER_TEST_NOW).
  void SetNow(int64_t now);
  int64_t now() const { return now_; }

  // Runs defenderctl_testclock -c CONFIG ARGS...
  RunResult Ctl(const std::vector<std::string>& args) const;
  // Runs `argv` as is (argv[0] a path).
  RunResult Exec(const std::vector<std::string>& argv) const;

  // One login through the real module stack (doc/DESIGN.md §7) with
  // pamtester: `password` is typed at the prompt; pam_matrix accepts only
  // the users of AddUser. `rhost` empty: a local login. Returns pamtester's
  // exit status (0 = authenticated).
  int Login(const std::string& user, const std::string& password,
            const std::string& rhost, const std::string& tty = "") const;
  void AddUser(const std::string& user, const std::string& password);

 private:
  TempDir dir_;
  std::string config_;
  std::string passdb_;
  int64_t now_ = kT0;
};

}  // namespace defender::testing

#endif  // PAM_DEFENDER_TESTS_CLI_HARNESS_H_
