// One login attempt, normalised once at the edge (doc/DESIGN.md §2): the
// module (pam_defender/module.cc) and `defenderctl check` turn what they
// were given into a Login with NormalizeLogin, and everything after that
// (the policy, the attempt log, syslog lines, hooks and Redis events) uses
// that one value and never normalises or cuts the items again.
#ifndef PAM_DEFENDER_COMMON_LOGIN_H_
#define PAM_DEFENDER_COMMON_LOGIN_H_

#include <optional>
#include <string>

#include "common/config.h"
#include "common/normalize.h"

namespace defender {

// The items of one login attempt as PAM gives them: untrusted, any bytes,
// any length. "" means the item is not set.
struct RawLoginItems {
  std::string service;  // PAM_SERVICE
  std::string user;     // PAM_USER
  std::string rhost;    // PAM_RHOST
  std::string tty;      // PAM_TTY
  // The process is privileged by exec (su, sudo: InSecureContext), and
  // whether the user who runs it (its real uid, which the kernel set) is
  // the account PAM_USER names (its uid). Not PAM_RUSER: some setuid
  // programs take that from their caller (polkit's helper sets it to the
  // user to authenticate).
  bool setuid_caller = false;
  bool caller_is_user = false;
};

// A login attempt after normalisation. Every field is stored text (valid
// UTF-8, no hidden code point, at most kMaxSubjectBytes bytes; normalize.h),
// so it may be stored, compared and printed as it is.
struct Login {
  std::string service;              // EscapeText(service, kMaxSubjectBytes)
  std::string tty;                  // EscapeText(tty, kMaxSubjectBytes)
  std::optional<std::string> user;  // NormalizeUser; nullopt: no user
  std::optional<Host> host;         // NormalizeHost; nullopt: a local login
  // A local login under a setuid caller run by someone other than the user
  // it authenticates (su to another account): it has no pair subject, so
  // that another local user cannot lock the owner out of the owner's own
  // local logins (doc/DESIGN.md §3.14).
  bool other_local_caller = false;
};

// THE normalisation of a login's items under `cfg` (fold_username_case,
// ipv6_prefix). Accepts any bytes of any length and never fails. The service
// and the tty are cut at kMaxSubjectBytes, as the subjects are: one cut
// length for every item.
Login NormalizeLogin(const RawLoginItems& raw, const Config& cfg);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_LOGIN_H_
