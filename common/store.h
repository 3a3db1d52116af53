// The Store: where failure counters and blocks live. Implementations:
// LocalStore (local default), RedisStore (fleet), and MemoryStore, a test
// double in tests/support/.
//
// Contract shared by every implementation (the same test suite runs against
// each, tests/unit/store_contract.h):
//  - Each method is one atomic step: concurrent callers in other processes
//    (or on other hosts, for Redis) never lose an update.
//  - A subject's failure counter lives until `expires` (0 = forever); each
//    failure moves it to now + attempt_ttl. An expired counter reads as 0.
//  - A block lasts until its `until` (0 = permanent). While a subject is
//    blocked its counter is frozen; when the block ends the counter is gone
//    too, so the subject starts again from zero.
//  - Every block (automatic or manual) is kept in the subject's block
//    history with its time; history older than LockoutParams.history_seconds
//    does not count and may be pruned. Unblocking and success do not erase
//    the history: progressive lockouts keep growing for a repeat offender.
//  - Remembered hosts (doc/DESIGN.md §3.14, common/remember.h): a user's
//    list of at most kMaxRememberedHosts (host, until). Every step that
//    reads the states of subjects that include a pair "U@H" (SubjectKind
//    kPair) reads U's list in the same atomic step and marks the states
//    exempt (MarkExempt): U's when H is remembered at now, else the pair's.
//    Exempt states take no part in IsRefused.
//  - Methods return false with *err set when the store cannot be used; the
//    output arguments are then unspecified. They never throw for store
//    errors, never log and never see a PAM handle.
#ifndef PAM_DEFENDER_COMMON_STORE_H_
#define PAM_DEFENDER_COMMON_STORE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/subject.h"

namespace defender {

struct LockoutParams {
  int64_t attempt_ttl = 300;  // Counter life after a failure; 0 = forever.
  // Length of the 1st, 2nd, ... block within the history window; the last
  // repeats; 0 = permanent. Must not be empty.
  std::vector<int64_t> lockout_lengths{300};
  int64_t history_seconds = 24 * 3600;
};

// Every failure counter has a generation: a nonzero number drawn when the
// counter starts (its first count with none live: after a reset, an
// unblock, a block's end or the counter's end), kept while it lives and
// gone with it. It tells an attempt counted provisionally whether the
// counter it counted on is still the one it finds (FailureMode::kConclude).
using Generation = uint32_t;

struct FailureRequest {
  Subject subject;
  int64_t limit = 3;  // Failures allowed; the one that goes above blocks.
  // kConclude only: the generation of the counter that this attempt's
  // kProvisional count went to (FailureOutcome::counted of that step), 0
  // when that step counted nothing on this subject.
  Generation provisional = 0;
};

struct FailureOutcome {
  SubjectState state;          // After this failure.
  bool newly_blocked = false;  // This failure started the block.
  // The generation of the counter this step added one to, 0 when it added
  // none (the subject blocked, exempt or refused, or a conclusion whose
  // count was there already).
  Generation counted = 0;
};

// A subject that an attempt's provisional count (FailureMode::kProvisional)
// went to, and the generation of the counter it went to.
struct ProvisionalCount {
  Subject subject;
  Generation generation = 0;
};

// How the states of one attempt's subjects combine into a refusal.
enum class RefusalRule {
  kAny,    // Refused when any subject is blocked.
  kAll,    // Refused when every subject is blocked (by_user_and_host).
  kNever,  // Never refused (by_user_and_host with an exempt user or host).
};

// What a RecordFailure does to a subject that is not blocked, with live
// counter c and limit L (doc/DESIGN.md §3.1 and §7). In a setuid context the
// caller may kill the process between the password check and authfail, so
// preauth counts the attempt before the password is checked and authfail
// concludes it.
enum class FailureMode {
  kCount,        // c := c + 1; blocked if now above L (authfail).
  kProvisional,  // Blocked if c > L (an attempt counted and never concluded);
                 // else c := c + 1, never blocked (preauth).
  kConclude,     // When the counter is the one the attempt's provisional
                 // count went to (its generation is the request's
                 // `provisional`): blocked if c > L, else nothing (counted
                 // already). Otherwise (preauth counted nothing here, or the
                 // counter was reset or ended since, even if other attempts
                 // started a new one) as kCount, so that the guess is
                 // counted exactly once.
};

// True when `states` are refused under `rule`, leaving out exempt states. A
// list with no state that is not exempt is never refused.
bool IsRefused(RefusalRule rule, std::span<const SubjectState> states);

struct StoreEntry {
  Subject subject;
  SubjectState state;
};

// One remembered host of a user (ListRemembered).
struct RememberedEntry {
  std::string user;
  std::string host;
  int64_t until = 0;
  bool operator==(const RememberedEntry&) const = default;
};

struct StoreStats {
  int64_t blocked_users = 0;
  int64_t blocked_hosts = 0;
  int64_t permanent_blocks = 0;  // Included in the two counts above.
  int64_t failing_users = 0;     // Counter > 0, not blocked.
  int64_t failing_hosts = 0;
  int64_t failures = 0;          // Sum of live counters, blocked or not.
  int64_t blocks_in_window = 0;  // Block history entries within the window.
  int64_t blocked_pairs = 0;     // Kind pair (doc/DESIGN.md §3.14).
  int64_t failing_pairs = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Reads the state of each subject at `now` into (*out)[i].
  virtual bool Get(std::span<const Subject> subjects, int64_t now,
                   std::vector<SubjectState>* out, std::string* err) = 0;

  // As Get, for a decision (IsRefused, Policy::Check), except that a pair
  // subject that is exempt (its host not remembered by its user,
  // MarkExempt) may read as empty but for its exempt flag: it decides
  // nothing, and a store may leave its record unread (LocalStore does: one
  // file fewer in each step of an attack). This default reads it as Get.
  virtual bool GetForDecision(std::span<const Subject> subjects, int64_t now,
                              std::vector<SubjectState>* out,
                              std::string* err) {
    return Get(subjects, now, out, err);
  }

  // Reads the states of the requests' subjects. If IsRefused(rule, states)
  // sets *refused and changes nothing: (*out)[i].state is subject i's
  // current state (a refused attempt is counted on no subject, not even on
  // one that is not blocked; an exempt pair's may read as empty, as in
  // GetForDecision). Otherwise clears *refused and, for each
  // request: a blocked or exempt pair subject is left as it is
  // (newly_blocked = false); a blocked subject too;
  // any other is changed per `mode` (FailureMode): a counter that goes up
  // lives until now + attempt_ttl; a subject that is blocked is blocked for
  // lockout_lengths[min(n-1, size-1)] where n-1 is the number of blocks in
  // its history within history_seconds, keeps its counter, and the block
  // is added to the history. (*out)[i] describes request i. On false *out
  // is empty, or (a store that could write some subjects' records and not
  // others: a full disk) describes every request, newly_blocked and counted
  // only for the blocks and counts that were written: those happened.
  virtual bool RecordFailure(std::span<const FailureRequest> requests,
                             RefusalRule rule, FailureMode mode,
                             const LockoutParams& params, int64_t now,
                             std::vector<FailureOutcome>* out, bool* refused,
                             std::string* err) = 0;

  // Reads the states of `subjects` into *before. If IsRefused(rule, *before)
  // sets *refused and changes nothing. Otherwise clears the counter and the
  // block of each subject i for which SuccessResets(subjects[i], before[i],
  // reset[i]) (an exempt user keeps its block), and, when a pair U@H is
  // among `subjects` and remember_seconds > 0, remembers H for U until
  // RememberUntil(now, remember_seconds) (remember.h; a LocalStore leaves
  // the user's record unwritten when H is remembered until then already
  // and nothing else changes). `reset` has the size of `subjects`;
  // `take_back` is empty or has it too. A subject i that is not reset, not
  // blocked, and whose counter has the generation take_back[i] (nonzero:
  // the counter this attempt's kProvisional count went to) gets that count
  // back: one failure fewer (no counter at none), its life unchanged
  // (TakeBack in store_logic.h).
  virtual bool RecordSuccess(std::span<const Subject> subjects,
                             std::span<const bool> reset,
                             std::span<const Generation> take_back,
                             RefusalRule rule, int64_t remember_seconds,
                             int64_t now, std::vector<SubjectState>* before,
                             bool* refused, std::string* err) = 0;

  // Blocks `subject` until `until` (0 = permanent) whatever its state, keeps
  // its counter, and adds the block to its history.
  virtual bool Block(const Subject& subject, int64_t until, int64_t now,
                     std::string* err) = 0;

  // Clears the block and the counter of `subject`; *was_blocked tells
  // whether it was blocked at `now`.
  virtual bool Unblock(const Subject& subject, int64_t now, bool* was_blocked,
                       std::string* err) = 0;

  // Unblocks every subject blocked at `now`; *cleared lists them, also when
  // the call fails part of the way (those it did unblock before).
  virtual bool UnblockAll(int64_t now, std::vector<Subject>* cleared,
                          std::string* err) = 0;

  // Every subject with a live counter or block at `now` (only blocked ones
  // when `blocked_only`), sorted by kind (users first) then name.
  virtual bool List(int64_t now, bool blocked_only,
                    std::vector<StoreEntry>* out, std::string* err) = 0;

  virtual bool Stats(int64_t now, int64_t history_seconds, StoreStats* out,
                     std::string* err) = 0;

  // Every host remembered at `now`, sorted by user then host.
  virtual bool ListRemembered(int64_t now, std::vector<RememberedEntry>* out,
                              std::string* err) = 0;

  // Forgets `host` (every host when nullopt) of `user`'s remembered hosts;
  // *removed counts the hosts forgotten that were remembered at `now`.
  virtual bool Forget(const std::string& user,
                      const std::optional<std::string>& host, int64_t now,
                      int64_t* removed, std::string* err) = 0;

  // Deletes what no longer matters at `now`: expired counters and blocks,
  // expired remembered hosts, and block history older than history_seconds.
  // *removed counts deleted records (implementations where records expire by
  // themselves report 0).
  virtual bool Prune(int64_t now, int64_t history_seconds, int64_t* removed,
                     std::string* err) = 0;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_STORE_H_
