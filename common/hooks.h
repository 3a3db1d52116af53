// Runs the [hooks] commands for block and unblock events, detached from the
// caller: the login (or CLI command) never waits for them.
#ifndef PAM_DEFENDER_COMMON_HOOKS_H_
#define PAM_DEFENDER_COMMON_HOOKS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/policy.h"

namespace defender {

// The environment given to a hook for `e` (doc/DESIGN.md §3.11):
// DEFENDER_EVENT, DEFENDER_KIND, DEFENDER_SUBJECT, DEFENDER_UNTIL,
// DEFENDER_SERVICE, plus a fixed PATH. The subject and the service are passed
// through EscapeForDisplay (normalize.h): a subject read back from a store may
// hold any bytes.
std::vector<std::string> HookEnvironment(const Event& e,
                                         const std::string& service);

// Starts `argv` (argv[0] an absolute path; no shell) with environment `env`
// in a new session and process group, stdin/stdout/stderr on /dev/null and
// every other fd closed, signal dispositions and mask reset to defaults, in
// "/" with umask 022. Every child, from the first one on (the intermediate
// child, the supervisor and the hook), has its real and saved uid and gid
// set to the caller's effective ones, so that under su or sudo the invoking
// user can signal none of them; if that fails no hook runs. As root the
// children also leave the caller's groups, scheduling, resource limits and
// a positive OOM score adjustment behind (a root service's instead). A
// supervising process kills it (SIGKILL, whole process group) after
// `timeout_seconds`. Returns once the intermediate child has exited, which it
// does at once: the caller is left with no child and no zombie, and its own
// signal dispositions and mask are never changed. Returns false with *err set
// if the first fork failed; failures after that (exec errors) are silent.
// With `supervisor`, *supervisor is set to the supervising process's pid
// (0 if it is not known): a caller that made itself a child subreaper
// (defenderctl) gets that process as a child and can wait for it.
bool SpawnDetached(const std::vector<std::string>& argv,
                   const std::vector<std::string>& env, int timeout_seconds,
                   std::string* err, pid_t* supervisor = nullptr);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_HOOKS_H_
