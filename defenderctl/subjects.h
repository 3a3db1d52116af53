// Subjects named on the command line (--user, --host), normalised exactly
// as the module normalises PAM_USER and PAM_RHOST, so that the CLI names
// the records the module wrote.
#ifndef PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_
#define PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_

#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/subject.h"

namespace defender::ctl {

// Appends the user subject (NormalizeUser with fold_username_case) and the
// host subject (NormalizeHost with ipv6_prefix) for the arguments given.
// Returns false with *err set when an argument normalises to nothing.
bool SubjectsFromArgs(const Config& cfg, const std::optional<std::string>& user,
                      const std::optional<std::string>& host,
                      std::vector<Subject>* out, std::string* err);

// Why the module would never count or block `s` (a normalised subject)
// under `cfg`: "root is never blocked (even_deny_root = false)", "in
// allow_users", ... or "" when it can be blocked.
std::string ExemptionOf(const Config& cfg, const Subject& s);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_
