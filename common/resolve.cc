#include "common/resolve.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "common/lazy_libc.h"
#include "common/mutex.h"

namespace defender {
namespace {

using SteadyClock = std::chrono::steady_clock;

// One getaddrinfo_a request with everything it points to, so that all of it
// stays valid as long as the helper thread may use it.
struct Lookup {
  std::string host;
  std::string service;
  addrinfo hints{};
  gaicb cb{};
};

Mutex g_mutex;
std::vector<Lookup*>* g_abandoned = nullptr;  // Guarded by g_mutex.
pid_t g_abandoned_pid = 0;  // The process g_abandoned belongs to. g_mutex.

// Frees the abandoned lookups that have finished. Caller holds g_mutex.
void ReapLocked() {
  if (g_abandoned == nullptr) return;
  if (g_abandoned_pid != lazy::getpid()) {
    // A child made by fork(): the helper thread that ran these lookups is
    // not here, so they would stay "in progress" for ever. Nothing in this
    // process writes to them; glibc's copied request list may still point
    // at them, so they are left allocated (at most kMaxAbandonedLookups)
    // and no longer counted.
    g_abandoned = nullptr;
    return;
  }
  std::erase_if(*g_abandoned, [](Lookup* l) {
    if (lazy::gai_error(&l->cb) == EAI_INPROGRESS) return false;
    if (l->cb.ar_result) lazy::freeaddrinfo(l->cb.ar_result);
    delete l;
    return true;
  });
}

addrinfo Hints(int flags) {
  addrinfo hints{};
  hints.ai_family = 0;  // 0: any address family (IPv4 or IPv6).
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | flags;
  return hints;
}

}  // namespace

size_t AbandonedLookups() {
  MutexLock lock(&g_mutex);
  ReapLocked();
  return g_abandoned ? g_abandoned->size() : 0;
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
  {
    MutexLock lock(&g_mutex);
    ReapLocked();
    if (g_abandoned && g_abandoned->size() >= kMaxAbandonedLookups) {
      *err = "name lookup refused: earlier lookups still unanswered";
      return false;
    }
  }
  auto lookup = std::make_unique<Lookup>();
  lookup->host = host;
  lookup->service = service;
  lookup->hints = Hints(AI_ADDRCONFIG);
  lookup->cb.ar_name = lookup->host.c_str();
  lookup->cb.ar_service = lookup->service.c_str();
  lookup->cb.ar_request = &lookup->hints;
  gaicb* list[1] = {&lookup->cb};
  rc = lazy::getaddrinfo_a(GAI_NOWAIT, list, 1, nullptr);
  if (rc != 0) {
    *err = lazy::gai_strerror(rc);
    return false;
  }
  for (;;) {
    const auto left = std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::nanoseconds>(
               deadline - SteadyClock::now())
               .count());
    if (left == 0) break;
    const struct timespec timeout = {static_cast<time_t>(left / 1'000'000'000),
                                     static_cast<long>(left % 1'000'000'000)};
    const gaicb* const wait[1] = {&lookup->cb};
    rc = lazy::gai_suspend(wait, 1, &timeout);
    if (rc != EAI_INTR) break;  // 0: done; EAI_AGAIN: timed out.
  }
  rc = lazy::gai_error(&lookup->cb);
  if (rc == EAI_INPROGRESS) {
    // EAI_CANCELED, EAI_NOTCANCELED or EAI_ALLDONE.
    lazy::gai_cancel(&lookup->cb);
    rc = lazy::gai_error(&lookup->cb);
    if (rc == EAI_INPROGRESS) {
      // Not cancelled: the helper thread may still write the request. Keep
      // it (see the header comment); a later call frees it.
      MutexLock lock(&g_mutex);
      ReapLocked();
      if (g_abandoned == nullptr) {
        g_abandoned = new std::vector<Lookup*>();
        g_abandoned_pid = lazy::getpid();
      }
      g_abandoned->push_back(lookup.release());
    }
    if (rc == EAI_INPROGRESS || rc == EAI_CANCELED) {
      *err = "name lookup timed out";
      return false;
    }
  }
  if (rc != 0) {
    *err = lazy::gai_strerror(rc);
    return false;
  }
  out->reset(lookup->cb.ar_result);
  return true;
}

}  // namespace defender
