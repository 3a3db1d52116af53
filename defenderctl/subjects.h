// Subjects named on the command line (--user, --host), normalised exactly
// as the module normalises PAM_USER and PAM_RHOST, so that the CLI names
// the records the module wrote.
#ifndef PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_
#define PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
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

// The user name that `arg` was shown for, when `arg` is a user name as
// defenderctl shows it and that name differs from `arg` read as typed. A
// stored name holds "%XX" (upper-case hex) for the bytes of control
// characters, '%', invalid UTF-8 and invisible characters, and the tables
// show blanks so too: given back as --user, such text would name another
// user (its '%' escaped again). Returns the bytes the escapes stand for,
// or nullopt when `arg` holds none, has a malformed one, or means the
// same user either way. Commands that act on a user's records use it
// when the user as typed has none (ResolveShownUser).
std::optional<std::string> ShownUserName(const Config& cfg,
                                         std::string_view arg);

// For a command that acts on what the store holds of a user: when
// `has_records(raw)` is false for the user `arg` names as typed and
// ShownUserName(arg) names a user for whom it is true, returns that name
// (raw, to be normalised as the module does); else `arg`. So a name
// copied from `list`, `check` or `attempts` reaches the user it was shown
// for, and a name typed as the user typed it at login still wins.
std::string ResolveShownUser(
    const Config& cfg, const std::string& arg,
    const std::function<bool(const std::string& raw)>& has_records);

// Why the module would never count or block `s` (a normalised subject)
// under `cfg`: "root is never blocked (even_deny_root = false)", "in
// allow_users", ... or "" when it can be blocked.
std::string ExemptionOf(const Config& cfg, const Subject& s);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_
