// `defenderctl doctor` (doc/DESIGN.md §12): checks an installation and says,
// for each problem found, what is wrong and how to fix it, in plain words.
// Every check reads files under a root directory ("/" in production, a
// crafted tree in tests) and never changes anything.
#ifndef PAM_DEFENDER_DEFENDERCTL_DOCTOR_H_
#define PAM_DEFENDER_DEFENDERCTL_DOCTOR_H_

#include <string>
#include <vector>

namespace defender::ctl {

struct Finding {
  // Stable identifier of the check that failed, e.g. "pam.authfail_control"
  // (the `key` of --json; listed in defenderctl(8)).
  std::string key;
  // "problem" (doctor exits 1) or "note" (worth knowing; exit unaffected).
  std::string severity;
  std::string
      file;      // Under the root, as the administrator sees it ("/etc/...").
  int line = 0;  // 1-based, 0 when the finding is about a whole file.
  std::string message;
  std::string fix;
};

struct DoctorOptions {
  std::string root = "/";
  // Config file as given with -c, else "" for
  // <root>/etc/security/defender.toml.
  std::string config_path;
  // The SSH_CONNECTION of the administrator's session ("" when none).
  std::string ssh_connection;
};

// The module's PAM references that would be left dangling if the package
// were removed: every line under <root>/etc/pam.d naming pam_defender.so,
// and every line naming its alias pam_dfndr.so outside the common-* files
// that pam-auth-update writes (those it removes itself). One finding
// ("removal.reference") per line, quoting it.
std::vector<Finding> RemovalFindings(const std::string& root);

// All checks: PAM stacks, sshd options, configuration, store directory,
// cleanup timer.
std::vector<Finding> RunDoctor(const DoctorOptions& opt);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_DOCTOR_H_
