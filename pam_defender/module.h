// The module's logic behind the extern "C" entry points.
//
// Return codes (the one table; also in pam_defender(8) and the README):
//
//   step      | allowed      | refused          | store/config error
//   ----------+--------------+------------------+----------------------------
//   preauth   | PAM_SUCCESS  | PAM_AUTH_ERR     | PAM_IGNORE (fail_closed:
//             |              |                  |   PAM_AUTH_ERR)
//   authfail  | PAM_AUTH_ERR | PAM_AUTH_ERR     | PAM_AUTH_ERR
//   authsucc  | PAM_SUCCESS  | PAM_AUTH_ERR     | PAM_SUCCESS (fail_closed:
//             |              |                  |   PAM_AUTH_ERR)
//   account   | PAM_SUCCESS  | PAM_PERM_DENIED  | PAM_IGNORE (fail_closed:
//   (enforce) |              |                  |   PAM_PERM_DENIED)
//   account   | PAM_SUCCESS (the store is not read)
//   setcred   | PAM_SUCCESS
//
// With store.backend = "redis", a Redis error is handled by redis.on_error
// instead of the last column: "local" goes on with the local store
// (the column applies only if that fails too), "open" returns the
// "allowed" column, "closed" the "refused" one. Either way syslog says so
// once per PAM handle.
//
// Under a setuid caller (su, sudo: AT_SECURE, or real and effective ids
// differ) a store error fails closed, as if fail_closed were given, also
// when on_error = "local" fell back to a broken local store: the caller
// controls the process (rlimits, signals, umask, descriptors; see
// process_guard.h), so a failure that could not be recorded must not leave
// the next guess free (pam_faillock fails closed too). Configuration
// errors and redis.on_error = "open"/"closed" keep their meaning.
//
// Under a setuid caller preauth also counts the attempt provisionally,
// before the password is checked (doc/DESIGN.md §3.1): the caller may
// SIGKILL the process after a wrong password and before authfail. That
// count never blocks; a counter already above its limit (an attempt
// counted and never concluded) blocks at preauth. The handle keeps which
// counters preauth counted on (their generations). authfail on the same
// handle then counts nothing on a counter still the one counted on and
// blocks the subjects above their limit, and counts on any other (reset
// since, or not counted by preauth); authsucc resets as usual, and takes
// the count back from a subject it does not reset (by_user_and_host: the
// host) if that counter is still the one. The cost: logins of one user
// held open at once under su or sudo count against the limit before they
// conclude.
//
// authsucc fails open with PAM_SUCCESS, not PAM_IGNORE: it runs only after
// the password was accepted, and in the documented stack an ignored
// `sufficient` line falls through to pam_deny, which would lock everyone
// out whenever the store is broken.
//
// A step never throws, never writes to stdout/stderr, never exits, and
// leaves no descriptor, child or signal disposition behind.
#ifndef PAM_DEFENDER_PAM_DEFENDER_MODULE_H_
#define PAM_DEFENDER_PAM_DEFENDER_MODULE_H_

#include <security/pam_modules.h>

namespace defender {

enum class EntryPoint { kAuthenticate, kAccount };

// Runs one module step; the result is one of the codes in the table above.
int RunModule(EntryPoint entry, pam_handle_t* pamh, int flags, int argc,
              const char** argv) noexcept;

}  // namespace defender

#endif  // PAM_DEFENDER_PAM_DEFENDER_MODULE_H_
