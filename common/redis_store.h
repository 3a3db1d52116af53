// The Store on a shared Redis server (store.backend = "redis"): every host
// of a fleet sees the same counters and blocks.
//
// Each of Get, RecordFailure and RecordSuccess is exactly one EVALSHA of the
// script in redis_script.lua (one round trip, atomic on the server; on
// NOSCRIPT the script is sent once with EVAL, which also loads it). The
// listing methods (List, UnblockAll, Stats, Prune) walk the keys with SCAN,
// never KEYS, in a few round trips per batch. Which clock decides: see
// RedisStoreOptions::server_clock.
//
// Keys: "<prefix>:{<kind>:<name>}:s" (hash: the counter and block) and
// "<prefix>:{<kind>:<name>}:h" (sorted set: block history), and
// "<prefix>:{remember:<user>}:r" (sorted set: the user's remembered hosts,
// member host, score until; it expires with its last entry). The braces are
// a Redis Cluster hash tag, so both keys of a subject share a slot; bytes
// of the name other than [A-Za-z0-9._@:/+=-] are written as %XX, so no name
// can break out of its key or its tag. Block and unblock events are
// PUBLISHed as JSON on "<prefix>:events" by the same script call.
#ifndef PAM_DEFENDER_COMMON_REDIS_STORE_H_
#define PAM_DEFENDER_COMMON_REDIS_STORE_H_

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/redis_conn.h"
#include "common/store.h"

namespace defender {

struct RedisStoreOptions {
  std::string key_prefix = "defender";
  // Put in published events: who saw the event.
  std::string origin_host;
  std::string service;
  // Life of a block history (Block() has no LockoutParams).
  int64_t history_seconds = 24 * 3600;
  // True: the Redis server's clock (TIME, read by the script) decides for
  // every host of the fleet, and the `now` passed to a method only
  // translates the times it returns: an until comes back as the caller's
  // now + what is left of the block on the server's clock, so that
  // Remaining(now) is right on a host whose clock is off. False (tests
  // that inject time): the `now` passed decides.
  bool server_clock = false;
  // A walk over the keys (SCAN: List, ListRemembered, Stats, Prune) that
  // has not finished after this long fails: a broken or hostile server can
  // answer every SCAN with a new cursor, and a walk would never end.
  int64_t walk_timeout_ms = 300'000;
};

class RedisStore final : public Store {
 public:
  // `conn` must outlive the store. Connects lazily, on the first call.
  RedisStore(RedisConnection* conn, RedisStoreOptions options);

  // True when `prefix` can be used as a key prefix (non-empty, no braces,
  // no control characters or spaces); otherwise *err says why.
  static bool ValidPrefix(std::string_view prefix, std::string* err);

  // The record key of a subject; for tests and tools.
  std::string RecordKey(const Subject& s) const;
  std::string HistoryKey(const Subject& s) const;
  std::string RememberKey(std::string_view user) const;

  bool Get(std::span<const Subject> subjects, int64_t now,
           std::vector<SubjectState>* out, std::string* err) override;
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
  // Runs the script's operation `op` with `keys` and the op's own `args`.
  bool Eval(const char* op, int64_t now, const std::vector<std::string>& keys,
            const std::vector<std::string>& args, RedisReplyPtr* reply,
            std::string* err);
  // Eval for an op that returns `n` integers followed by the script's now:
  // *out gets the n integers, *offset what turns the script's times into
  // the caller's (caller's now - script's now).
  bool EvalInts(const char* op, int64_t now,
                const std::vector<std::string>& keys,
                const std::vector<std::string>& args, size_t n,
                std::vector<int64_t>* out, int64_t* offset, std::string* err);
  // Every record ("s") or history ("h") key under the prefix, with the
  // subject it belongs to, in SCAN batches passed to `fn`.
  template <typename Fn>
  bool Scan(char type, Fn fn, std::string* err);
  // Every key matching the glob `pattern`, in SCAN batches passed to `fn`;
  // fails once options_.walk_timeout_ms has passed since it started.
  template <typename Fn>
  bool ScanKeys(const std::string& pattern, Fn fn, std::string* err);
  // True, with *err set, when the walk ScanKeys runs is past its deadline:
  // for `fn`s that send a command per key.
  bool WalkExpired(std::string* err) const;
  // Appends to *keys and *args the remembered-hosts part of the get, fail
  // and success operations (common/redis_script.lua) for `subjects`.
  void AddRemember(std::span<const Subject> subjects, int64_t remember_seconds,
                   std::vector<std::string>* keys,
                   std::vector<std::string>* args) const;
  // The subject a key of ours names, decoded as it is, even when it is
  // nothing NormalizeUser/NormalizeHost would produce (a key planted by
  // anyone who can write to the database): such a subject is still listed,
  // counted and cleared by UnblockAll and Prune, so that an administrator
  // sees it and can remove it. It is untrusted text: everything that shows
  // it escapes it (EscapeForDisplay in normalize.h).
  bool ParseKey(std::string_view key, Subject* s) const;

  RedisConnection* conn_;
  RedisStoreOptions options_;
  std::chrono::steady_clock::time_point walk_deadline_{};
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_REDIS_STORE_H_
