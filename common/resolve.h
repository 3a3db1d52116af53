// Name resolution for a TCP connect that ends by a deadline, for use inside
// a host process such as sshd, su or sudo.
//
// A numeric host (an IPv4 or IPv6 literal) is converted without any lookup.
// A name is looked up with glibc's getaddrinfo_a(GAI_NOWAIT) and waited for
// with gai_suspend() until the deadline; no signal handler is installed and
// no thread of ours is started. The trade-offs:
//  - getaddrinfo_a runs the lookup on a helper thread of glibc's own, which
//    stays in the process while the lookup runs (it ends by itself when the
//    resolver gives up, after its own timeouts) and exits after a short idle
//    time;
//  - a lookup still running at the deadline is cancelled with gai_cancel().
//    When glibc cannot cancel it (EAI_NOTCANCELED: the helper thread is
//    already inside the resolver) its request and buffers must stay valid
//    until the thread is done with them, so they are deliberately kept
//    ("abandoned") and freed by a later call once the lookup has finished.
//    At most kMaxAbandonedLookups are kept per process; while that many are
//    still running a name is refused at once (the connect fails with an
//    error) rather than leaking more;
//  - in a child made by fork() the helper thread does not exist, so the
//    requests abandoned before the fork would never finish there: the child
//    stops counting them (they stay allocated, unused) and starts with
//    none abandoned.
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

inline constexpr size_t kMaxAbandonedLookups = 8;

// Resolves `host` (a name or an address literal without brackets) and `port`
// to stream socket addresses by `deadline`. Returns false with *err set
// ("name lookup timed out", the resolver's error, ...) on failure.
bool ResolveTcp(const std::string& host, int port,
                std::chrono::steady_clock::time_point deadline,
                AddrInfoPtr* out, std::string* err);

// Lookups abandoned to glibc's helper thread that have not been freed yet.
// For tests.
size_t AbandonedLookups();

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_RESOLVE_H_
