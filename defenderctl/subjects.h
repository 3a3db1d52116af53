// Subjects named on the command line (--user, --host), normalised exactly
// as the module normalises PAM_USER and PAM_RHOST, so that the CLI names
// the records the module wrote.
#ifndef PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_
#define PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/subject.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace defender::ctl {

// How a command reads its --user and --host arguments: its flags --typed
// and --shown (defenderctl(8), "Names as shown"). A stored user or host
// name holds "%XX" for each byte of a control or invisible character, of
// invalid UTF-8 and of '%' itself, and tables and log lines write blanks
// so too (DisplayName): the text defenderctl shows for such a name, read
// as the name given at login, names another user or host (its '%'
// escaped again).
enum class NameForm {
  kEither,  // Neither flag: each argument must read one way only.
  kTyped,   // --typed: as given at login (NormalizeUser, NormalizeHost).
  kShown,   // --shown: exactly as defenderctl and the module show it.
};

struct NameFormFlags {
  bool typed = false;
  bool shown = false;
  NameForm form() const {
    return typed   ? NameForm::kTyped
           : shown ? NameForm::kShown
                   : NameForm::kEither;
  }
};

// Adds --typed and --shown, bound to *flags, to `sub`: each excludes the
// other. Given without --user or --host, they are a usage error
// (CheckNameForm).
void AddNameFormFlags(CLI::App* sub, NameFormFlags* flags);

// False with *err set when `form` is a flag and neither --user nor --host
// was given.
bool CheckNameForm(NameForm form, bool user, bool host, std::string* err);

// The user subject of which `arg` is exactly what defenderctl shows: the
// subject itself (messages, JSON values) or its table cell (DisplayName).
// That is, `arg`'s "%XX" escapes (upper-case hex) decode to bytes that the
// module stores as exactly that subject: "evil%1B[31m" for the name typed
// as "evil\x1b[31m", "50%25off" for "50%off". nullopt when `arg` is no
// such text: a malformed escape, an escape defenderctl never writes
// ("al%69ce", "%20alice"), a NUL (PAM_USER holds none), a capital when
// `fold_username_case`, a blank first or a blank last where no cut at
// kMaxSubjectBytes can have fallen just after it (the module trims them),
// a name longer than that, or an empty one.
std::optional<std::string> ShownUserSubject(std::string_view arg,
                                            bool fold_username_case);

// The host subject of which `arg` is exactly what defenderctl shows, as
// ShownUserSubject: an address or network without '%' or a blank is read
// as typed (HostFromArg); otherwise `arg`'s escapes decode to a host name
// (not an address, unless it is a long name's cut) that the module stores
// as exactly that subject (EscapeHostName), or its DisplayName. nullopt
// for anything else, a capital included (the module lower-cases names).
std::optional<std::string> ShownHostSubject(std::string_view arg,
                                            int ipv6_prefix);

// --host `arg` as typed: NormalizeHost, but an IPv6 network of ipv6_prefix
// bits, or of another prefix as list shows it ("2001:db8::/48"), is that
// network's subject, with its base address as the Host's ip. Other network
// text (10.0.0.0/8, an address /32 or /128) names no subject: nullopt with
// *err set, as for an empty argument. The module never stores such text
// for a name (EscapeHostName writes '/' as "%2F").
std::optional<Host> HostFromArg(std::string_view arg, int ipv6_prefix,
                                std::string* err);

// The host subject --host `arg` names under `form`, in *host, as
// ResolveUser does for users: with neither flag, `arg` must read one way
// only. False with *err set (a usage error).
bool ResolveHost(const Config& cfg, std::string_view arg, NameForm form,
                 std::string* host, std::string* err);

// The user subject --user `arg` names under `form`, in *user: typed,
// NormalizeUser(arg); shown, ShownUserSubject(arg) with capitals allowed
// (a record made before fold_username_case was turned on, or by a host of
// a shared Redis that does not fold, keeps them). With neither flag,
// `arg` must read one way only: when it is the shown text (without a
// capital under fold_username_case) of a user other
// than the one it names as typed, nothing is guessed (an attacker chooses
// which users have records: a login under the shown text makes one).
// False with *err set (a usage error): nothing named, not a shown name
// under --shown, or two readings (the message names both users and the
// flags).
bool ResolveUser(const Config& cfg, std::string_view arg, NameForm form,
                 std::string* user, std::string* err);

// Appends the user subject (ResolveUser under `form`) and the host subject
// (ResolveHost under `form`) for the arguments given. Returns false with
// *err set when an argument names nothing or reads two ways, or a flag
// was given without either (a usage error).
bool SubjectsFromArgs(const Config& cfg, const std::optional<std::string>& user,
                      NameForm form, const std::optional<std::string>& host,
                      std::vector<Subject>* out, std::string* err);

// Why the module would never count or block `s` (a normalised subject)
// under `cfg`: "root is never blocked (even_deny_root = false)", "in
// allow_users", ... or "" when it can be blocked.
std::string ExemptionOf(const Config& cfg, const Subject& s);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_SUBJECTS_H_
