#include "common/resolve.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>

#include "common/lazy_libc.h"

namespace defender {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Stack of a lookup thread: set, not inherited from RLIMIT_STACK, which a
// setuid program's caller chooses (a tiny one would overflow in the
// resolver). glibc's getaddrinfo_a gives its helpers less.
constexpr size_t kLookupStack = 256 * 1024;

enum State : int { kRunning, kDone, kAbandoned };

// One lookup, shared by its caller and its thread; the last of the two to
// let go frees it (refs).
struct Lookup {
  std::string host;
  std::string service;
  addrinfo hints{};
  int rc = EAI_SYSTEM;
  addrinfo* result = nullptr;
  int event_fd = -1;  // Written by the thread when done.
  std::atomic<int> state{kRunning};
  std::atomic<int> refs{2};
};

// Lookups whose caller gave up while their thread still runs, counted in
// the process g_abandoned_pid (a child made by fork() has none of its
// parent's threads, and starts from zero).
std::atomic<size_t> g_abandoned{0};
std::atomic<pid_t> g_abandoned_pid{0};

void Release(Lookup* l) {
  if (l->refs.fetch_sub(1) != 1) return;
  if (l->result != nullptr) lazy::freeaddrinfo(l->result);
  if (l->event_fd >= 0) close(l->event_fd);
  delete l;
}

void* RunLookup(void* arg) {
  auto* l = static_cast<Lookup*>(arg);
  l->rc = lazy::getaddrinfo(l->host.c_str(), l->service.c_str(), &l->hints,
                            &l->result);
  int expected = kRunning;
  if (l->state.compare_exchange_strong(expected, kDone)) {
    const uint64_t one = 1;
    (void)!write(l->event_fd, &one, sizeof one);
  } else {
    g_abandoned.fetch_sub(1);  // Its caller is gone.
  }
  Release(l);
  return nullptr;
}

// Starts `l`'s thread, detached, with every signal blocked (the host's
// handlers never run on it). False with errno-style `*error` if it could
// not be started.
bool StartLookup(Lookup* l, int* error) {
  pthread_attr_t attr;
  *error = lazy::pthread_attr_init(&attr);
  if (*error != 0) return false;
  lazy::pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  lazy::pthread_attr_setstacksize(&attr, kLookupStack);
  sigset_t all, old;
  sigfillset(&all);
  lazy::sigprocmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  *error = lazy::pthread_create(&thread, &attr, RunLookup, l);
  lazy::sigprocmask(SIG_SETMASK, &old, nullptr);
  lazy::pthread_attr_destroy(&attr);
  return *error == 0;
}

addrinfo Hints(int flags) {
  addrinfo hints{};
  hints.ai_family = 0;  // 0: any address family (IPv4 or IPv6).
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | flags;
  return hints;
}

// The count of this process: zero in a child made by fork().
void AdoptCount() {
  const pid_t me = lazy::getpid();
  pid_t owner = g_abandoned_pid.load();
  if (owner != me && g_abandoned_pid.compare_exchange_strong(owner, me)) {
    g_abandoned.store(0);
  }
}

}  // namespace

size_t AbandonedLookups() {
  AdoptCount();
  return g_abandoned.load();
}

bool ResolveTcp(const std::string& host, int port,
                SteadyClock::time_point deadline, AddrInfoPtr* out,
                std::string* err) {
  const std::string service = std::to_string(port);
  // An address literal: no lookup at all.
  const addrinfo numeric = Hints(AI_NUMERICHOST);
  addrinfo* res = nullptr;
  int rc = lazy::getaddrinfo(host.c_str(), service.c_str(), &numeric, &res);
  if (rc == 0) {
    out->reset(res);
    return true;
  }
  if (rc != EAI_NONAME) {
    *err = lazy::gai_strerror(rc);
    return false;
  }
  AdoptCount();
  if (g_abandoned.load() >= kMaxAbandonedLookups) {
    *err = "name lookup refused: earlier lookups still unanswered";
    return false;
  }
  auto* lookup = new Lookup;
  lookup->host = host;
  lookup->service = service;
  lookup->hints = Hints(AI_ADDRCONFIG);
  lookup->event_fd = lazy::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int error = errno;
  if (lookup->event_fd < 0 || !StartLookup(lookup, &error)) {
    delete lookup;  // No thread has it (its descriptor closes with it).
    *err = std::string("name lookup: ") + lazy::strerror(error);
    return false;
  }
  for (;;) {
    if (lookup->state.load() == kDone) break;
    const int64_t left_ms = std::chrono::ceil<std::chrono::milliseconds>(
                                deadline - SteadyClock::now())
                                .count();
    if (left_ms <= 0) break;
    pollfd p{lookup->event_fd, POLLIN, 0};
    const int n =
        lazy::poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 60'000)));
    if (n < 0 && errno != EINTR) break;
  }
  int expected = kRunning;
  g_abandoned.fetch_add(1);
  if (lookup->state.compare_exchange_strong(expected, kAbandoned)) {
    // Still running: its thread frees it when done (the header comment).
    Release(lookup);
    *err = "name lookup timed out";
    return false;
  }
  g_abandoned.fetch_sub(1);
  rc = lookup->rc;
  if (rc == 0) {
    out->reset(lookup->result);
    lookup->result = nullptr;
  }
  Release(lookup);
  if (rc != 0) {
    *err = lazy::gai_strerror(rc);
    return false;
  }
  return true;
}

}  // namespace defender
