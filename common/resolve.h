// Name resolution for a TCP connect that ends by a deadline, for use inside
// a host process such as sshd, su or sudo.
//
// A numeric host (an IPv4 or IPv6 literal) is converted without any lookup.
// A name is looked up with getaddrinfo() on a thread of its own, detached,
// started with every signal blocked and a 256 KB stack (not the caller's
// RLIMIT_STACK), and waited for on an eventfd with poll() until the
// deadline; no signal handler is installed. The trade-offs:
//  - the thread stays in the process while the resolver runs (it ends by
//    itself when the resolver gives up, after its own timeouts); the module
//    is never unloaded (doc/DESIGN.md §7), so its code outlives it;
//  - a lookup still running at the deadline is abandoned: its thread frees
//    it when done. At most kMaxRunningLookups threads of a process run at
//    once, abandoned or still waited for: a name is refused at once (the
//    connect fails with an error) rather than starting more, however many
//    logins ask at the same moment; a deadline already past starts none;
//  - a child made by fork() has none of its parent's threads: it starts
//    with none running, and its lookups start threads of its own (glibc's
//    getaddrinfo_a, used before, left a child forked within a second of a
//    lookup waiting for a helper thread that the child did not have).
// Thread-safe.
#ifndef PAM_DEFENDER_COMMON_RESOLVE_H_
#define PAM_DEFENDER_COMMON_RESOLVE_H_

#include <netdb.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "common/lazy_libc.h"

namespace defender {

struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const { lazy::freeaddrinfo(ai); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

inline constexpr size_t kMaxRunningLookups = 8;

// Resolves `host` (a name or an address literal without brackets) and `port`
// to stream socket addresses by `deadline`. Returns false with *err set
// ("name lookup timed out", the resolver's error, ...) on failure.
bool ResolveTcp(const std::string& host, int port,
                std::chrono::steady_clock::time_point deadline,
                AddrInfoPtr* out, std::string* err);

// Lookup threads of this process still running (abandoned or waited for).
// For tests.
size_t RunningLookups();

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_RESOLVE_H_
