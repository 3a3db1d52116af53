// Subjects named on the command line (--user, --host), normalised exactly
// as the module normalises PAM_USER and PAM_RHOST, so that the CLI names
// the records the module wrote.
#ifndef PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_
#define PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/store.h"
#include "common/subject.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace defender::ctl {

// Appends the user subject (NormalizeUser with fold_username_case) and the
// host subject (NormalizeHost with ipv6_prefix) for the arguments given.
// Returns false with *err set when an argument normalises to nothing.
bool SubjectsFromArgs(const Config& cfg, const std::optional<std::string>& user,
                      const std::optional<std::string>& host,
                      std::vector<Subject>* out, std::string* err);

// How a command reads its --user argument: its flags --typed and --shown
// (doc/defenderctl.8, "User names as shown"). A stored user name holds
// "%XX" for each byte of a control or invisible character, of invalid
// UTF-8 and of '%' itself, and tables write blanks so too (NameCell): the
// text defenderctl shows for such a user, given back as the name typed at
// login, would name another user (its '%' escaped again).
enum class UserForm {
  kEither,  // Neither flag: whichever reading names a user with records.
  kTyped,   // --typed: the name as typed at login (NormalizeUser).
  kShown,   // --shown: the name exactly as defenderctl shows it.
};

struct UserFormFlags {
  bool typed = false;
  bool shown = false;
  UserForm form() const {
    return typed   ? UserForm::kTyped
           : shown ? UserForm::kShown
                   : UserForm::kEither;
  }
};

// Adds --typed and --shown, bound to *flags, to `sub`, whose --user is
// `user`: each needs --user and excludes the other.
void AddUserFormFlags(CLI::App* sub, CLI::Option* user, UserFormFlags* flags);

// The user subject of which `arg` is exactly what defenderctl shows: the
// subject itself (messages, JSON) or its table cell (NameCell). That is,
// `arg`'s "%XX" escapes (upper-case hex) decode to bytes that the module
// stores as exactly that subject: "evil%1B[31m" for the name typed as
// "evil\x1b[31m", "50%25off" for "50%off". nullopt when `arg` is no such
// text: a malformed escape, an escape defenderctl never writes
// ("al%69ce", "%20alice"), a name the module would trim, fold (under
// fold_username_case) or cut, or an empty one.
std::optional<std::string> ShownUserSubject(const Config& cfg,
                                            std::string_view arg);

// Sets *has to whether the store (or archive) holds what the command acts
// on for user subject `user`; returns false with *err set when it cannot
// tell (store unavailable).
using HasRecords =
    std::function<bool(const std::string& user, bool* has, std::string* err)>;

// The user subject --user `arg` names under `form`, in *user. Typed, it is
// NormalizeUser(arg); shown, ShownUserSubject(arg). With neither flag,
// when the two readings differ, the one for which `has_records` is true;
// when neither has records, the name as typed. Returns kExitOk, kExitUsage
// with *err set (nothing named; not a shown name under --shown; both
// readings have records: ambiguous, the message names both users and the
// flags) or kExitStore (*err: "store unavailable: " and has_records'
// error).
int ResolveUser(const Config& cfg, std::string_view arg, UserForm form,
                const HasRecords& has_records, std::string* user,
                std::string* err);

// Sets *has to whether `store` holds a block or a failure count for any
// of `subjects` at `now`; false with *err when the store fails.
bool HasState(Store* store, std::span<const Subject> subjects, int64_t now,
              bool* has, std::string* err);

// Why the module would never count or block `s` (a normalised subject)
// under `cfg`: "root is never blocked (even_deny_root = false)", "in
// allow_users", ... or "" when it can be blocked.
std::string ExemptionOf(const Config& cfg, const Subject& s);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_
