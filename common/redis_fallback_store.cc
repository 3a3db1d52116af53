#include "common/redis_fallback_store.h"

#include <chrono>
#include <optional>

#include "common/lock_wait.h"

namespace defender {

template <typename Call>
bool FallbackStore::Run(int64_t now, Call call, std::string* err) {
  std::optional<std::chrono::steady_clock::time_point> start;
  if (primary_error_.empty()) {
    start = std::chrono::steady_clock::now();
    if (call(primary_, now)) return true;
    primary_error_ = err->empty() ? "unknown error" : *err;
  }
  err->clear();
  if (secondary_ == nullptr) {
    std::string why;
    secondary_ = open_secondary_(&why);
    if (secondary_ == nullptr) {
      *err = primary_error_ + "; the local store cannot take over: " + why;
      return false;
    }
  }
  // This call's `now` was read before the Redis call that failed, which may
  // have lasted up to its timeouts.
  if (start) now = MovedOnBy(now, std::chrono::steady_clock::now() - *start);
  secondary_used_ = true;
  return call(secondary_, now);
}

bool FallbackStore::Get(std::span<const Subject> subjects, int64_t now,
                        std::vector<SubjectState>* out, std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) { return s->Get(subjects, now, out, err); },
      err);
}

bool FallbackStore::GetForDecision(std::span<const Subject> subjects,
                                   int64_t now, std::vector<SubjectState>* out,
                                   std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) {
        return s->GetForDecision(subjects, now, out, err);
      },
      err);
}

bool FallbackStore::RecordFailure(std::span<const FailureRequest> requests,
                                  RefusalRule rule, FailureMode mode,
                                  const LockoutParams& params, int64_t now,
                                  std::vector<FailureOutcome>* out,
                                  bool* refused, std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) {
        return s->RecordFailure(requests, rule, mode, params, now, out, refused,
                                err);
      },
      err);
}

bool FallbackStore::RecordSuccess(std::span<const Subject> subjects,
                                  std::span<const bool> reset,
                                  std::span<const Generation> take_back,
                                  RefusalRule rule, int64_t remember_seconds,
                                  int64_t now,
                                  std::vector<SubjectState>* before,
                                  bool* refused, std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) {
        return s->RecordSuccess(subjects, reset, take_back, rule,
                                remember_seconds, now, before, refused, err);
      },
      err);
}

bool FallbackStore::Block(const Subject& subject, int64_t until, int64_t now,
                          std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) { return s->Block(subject, until, now, err); },
      err);
}

bool FallbackStore::Unblock(const Subject& subject, int64_t now,
                            bool* was_blocked, std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) {
        return s->Unblock(subject, now, was_blocked, err);
      },
      err);
}

bool FallbackStore::UnblockAll(int64_t now, std::vector<Subject>* cleared,
                               std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) { return s->UnblockAll(now, cleared, err); },
      err);
}

bool FallbackStore::List(int64_t now, bool blocked_only,
                         std::vector<StoreEntry>* out, std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) {
        return s->List(now, blocked_only, out, err);
      },
      err);
}

bool FallbackStore::Stats(int64_t now, int64_t history_seconds, StoreStats* out,
                          std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) {
        return s->Stats(now, history_seconds, out, err);
      },
      err);
}

bool FallbackStore::ListRemembered(int64_t now,
                                   std::vector<RememberedEntry>* out,
                                   std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) { return s->ListRemembered(now, out, err); },
      err);
}

bool FallbackStore::Forget(const std::string& user,
                           const std::optional<std::string>& host, int64_t now,
                           int64_t* removed, std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) {
        return s->Forget(user, host, now, removed, err);
      },
      err);
}

bool FallbackStore::Prune(int64_t now, int64_t history_seconds,
                          int64_t* removed, std::string* err) {
  return Run(
      now,
      [&](Store* s, int64_t now) {
        return s->Prune(now, history_seconds, removed, err);
      },
      err);
}

}  // namespace defender
