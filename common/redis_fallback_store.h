// redis.on_error = "local": a Store that uses the shared Redis store and,
// from the first error on, the local store instead, for the rest of
// its life (one PAM step). The caller learns from primary_error() that the
// fallback happened, to say so once in syslog.
//
// A Redis call that timed out may still have been applied on the server; the
// same step is then counted locally too. Counting twice is the safe side.
// The local store decides at the time it takes over: the call's `now`,
// read before the Redis call, moved on by the whole seconds since that call
// began. A caller reads `now` anew for each call (Policy does), so that the
// calls after the takeover get the time they run at too.
#ifndef PAM_DEFENDER_COMMON_REDIS_FALLBACK_STORE_H_
#define PAM_DEFENDER_COMMON_REDIS_FALLBACK_STORE_H_

#include <functional>
#include <string>
#include <utility>

#include "common/store.h"

namespace defender {

class FallbackStore final : public Store {
 public:
  // `primary` must outlive this store. The secondary is obtained from
  // `open_secondary` only when the primary first fails (nullptr with *err
  // set: the call fails with that error) and must outlive this store too.
  using Opener = std::function<Store*(std::string* err)>;
  FallbackStore(Store* primary, Opener open_secondary)
      : primary_(primary), open_secondary_(std::move(open_secondary)) {}

  // Empty while the primary works; else the error that made it switch.
  const std::string& primary_error() const { return primary_error_; }
  // True once a call went to the secondary (it could be opened).
  bool secondary_used() const { return secondary_used_; }

  bool Get(std::span<const Subject> subjects, int64_t now,
           std::vector<SubjectState>* out, std::string* err) override;
  bool GetForDecision(std::span<const Subject> subjects, int64_t now,
                      std::vector<SubjectState>* out,
                      std::string* err) override;
  bool RecordFailure(std::span<const FailureRequest> requests, RefusalRule rule,
                     FailureMode mode, const LockoutParams& params, int64_t now,
                     std::vector<FailureOutcome>* out, bool* refused,
                     std::string* err) override;
  bool RecordSuccess(std::span<const Subject> subjects,
                     std::span<const bool> reset,
                     std::span<const Generation> take_back, RefusalRule rule,
                     int64_t remember_seconds, int64_t now,
                     std::vector<SubjectState>* before, bool* refused,
                     std::string* err) override;
  bool Block(const Subject& subject, int64_t until, int64_t now,
             std::string* err) override;
  bool Unblock(const Subject& subject, int64_t now, bool* was_blocked,
               std::string* err) override;
  bool UnblockAll(int64_t now, std::vector<Subject>* cleared,
                  std::string* err) override;
  bool List(int64_t now, bool blocked_only, std::vector<StoreEntry>* out,
            std::string* err) override;
  bool Stats(int64_t now, int64_t history_seconds, StoreStats* out,
             std::string* err) override;
  bool ListRemembered(int64_t now, std::vector<RememberedEntry>* out,
                      std::string* err) override;
  bool Forget(const std::string& user, const std::optional<std::string>& host,
              int64_t now, int64_t* removed, std::string* err) override;
  bool Prune(int64_t now, int64_t history_seconds, int64_t* removed,
             std::string* err) override;

 private:
  // Runs `call(store, now)` on the primary while it works, else on the
  // secondary. The call that finds the primary failing gives the secondary
  // `now` moved on by the whole seconds the failed call and the opening of
  // the secondary lasted (MovedOnBy), so that it decides at the time it
  // runs; a later call's `now` was read after that and is passed as is.
  template <typename Call>
  bool Run(int64_t now, Call call, std::string* err);

  Store* primary_;
  Store* secondary_ = nullptr;
  Opener open_secondary_;
  bool secondary_used_ = false;
  std::string primary_error_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_REDIS_FALLBACK_STORE_H_
