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
#include <cstring>
#include <memory>
#include <string>

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
  pid_t pid = 0;  // The process whose count holds its slot.
  std::string host;
  std::string service;
  addrinfo hints{};
  int rc = EAI_SYSTEM;
  addrinfo* result = nullptr;
  int event_fd = -1;  // Written by the thread when done.
  std::atomic<int> state{kRunning};
  std::atomic<int> refs{2};
};

// The lookups whose thread runs, as one word: the process they belong to
// (high 32 bits) and their count. A child made by fork() has none of its
// parent's threads: a word of another process counts zero. One word, so
// that a child's threads never see the count of one process with the pid
// of another.
std::atomic<uint64_t> g_running{0};

uint64_t Word(pid_t pid, uint64_t count) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(pid)) << 32) | count;
}

uint64_t CountOf(uint64_t word, pid_t pid) {
  return word >> 32 == static_cast<uint32_t>(pid) ? word & 0xffffffffu : 0;
}

// Takes a slot for a lookup of process `pid`; false when all
// kMaxRunningLookups are taken.
bool TakeSlot(pid_t pid) {
  uint64_t word = g_running.load();
  for (;;) {
    const uint64_t count = CountOf(word, pid);
    if (count >= kMaxRunningLookups) return false;
    if (g_running.compare_exchange_weak(word, Word(pid, count + 1))) {
      return true;
    }
  }
}

void GiveSlot(pid_t pid) {
  uint64_t word = g_running.load();
  for (;;) {
    const uint64_t count = CountOf(word, pid);
    if (count == 0) return;  // Not this process's word (cannot happen).
    if (g_running.compare_exchange_weak(word, Word(pid, count - 1))) return;
  }
}

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
  // Before the caller can see it done: a caller that returns has its slot
  // back.
  GiveSlot(l->pid);
  int expected = kRunning;
  if (l->state.compare_exchange_strong(expected, kDone)) {
    const uint64_t one = 1;
    (void)!write(l->event_fd, &one, sizeof one);
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
  // Every signal (memset, not sigfillset: one import fewer for the
  // module); glibc's sigprocmask keeps its own internal ones unblocked.
  sigset_t all, old;
  memset(&all, 0xff, sizeof all);
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

}  // namespace

size_t RunningLookups() {
  return static_cast<size_t>(CountOf(g_running.load(), lazy::getpid()));
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
  if (SteadyClock::now() >= deadline) {
    *err = "name lookup timed out";
    return false;
  }
  // Allocated before a slot is taken: a std::bad_alloc here (caught at
  // the PAM boundary) keeps no slot.
  auto owned = std::make_unique<Lookup>();
  const pid_t pid = lazy::getpid();
  owned->pid = pid;
  owned->host = host;
  owned->service = service;
  owned->hints = Hints(AI_ADDRCONFIG);
  if (!TakeSlot(pid)) {
    *err = "name lookup refused: earlier lookups still unanswered";
    return false;
  }
  Lookup* lookup = owned.release();
  lookup->event_fd = lazy::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int error = errno;
  if (lookup->event_fd < 0 || !StartLookup(lookup, &error)) {
    // No thread has it.
    if (lookup->event_fd >= 0) close(lookup->event_fd);
    delete lookup;
    GiveSlot(pid);
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
  if (lookup->state.compare_exchange_strong(expected, kAbandoned)) {
    // Still running: its thread frees it and its slot when done (the header
    // comment).
    Release(lookup);
    *err = "name lookup timed out";
    return false;
  }
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
