// The arithmetic of the Store contract on one stored record, shared by the
// MemoryStore and the LocalStore so that both follow it to the letter.
// (The RedisStore does the same in its server-side script.)
#ifndef PAM_DEFENDER_COMMON_STORE_LOGIC_H_
#define PAM_DEFENDER_COMMON_STORE_LOGIC_H_

#include <cstdint>
#include <optional>

#include "common/remember.h"
#include "common/store.h"

namespace defender {

// One subject's record as stored. `expires` is the epoch second at which the
// record stops mattering (0 = never): the end of the block when blocked,
// else the end of the counter's life.
struct StoredRecord {
  int64_t failures = 0;
  bool blocked = false;
  int64_t expires = 0;
  // The counter's generation (common/store.h: Generation); 0 in a record
  // written before generations were kept: the next count draws one.
  Generation generation = 0;
  bool operator==(const StoredRecord&) const = default;
};

// True when the record still matters at `now`.
inline bool IsLive(const StoredRecord& r, int64_t now) {
  return r.expires == 0 || r.expires > now;
}

// The state a (possibly absent or expired) record describes at `now`.
inline SubjectState StateOf(const std::optional<StoredRecord>& r, int64_t now) {
  if (!r || !IsLive(*r, now)) return {};
  return SubjectState{r->failures, r->blocked, r->blocked ? r->expires : 0};
}

// Applies one failure in `mode` (common/store.h) for `request` to the
// record `stored` (absent or not live: none) at `now`. A counter that
// starts here takes a generation drawn then (DrawGeneration), and so does a
// live one that has none. `previous_blocks` is
// the number of blocks in the subject's history within the window (used when
// the failure starts a block). Returns the record to store, or nullopt when
// nothing changes (the subject is blocked, or a conclusion finds its count
// there). Sets *newly_blocked when this failure starts a block, and *counted to
// the generation of the counter it added one to (0: none).
std::optional<StoredRecord> ApplyFailure(
    const std::optional<StoredRecord>& stored, const FailureRequest& request,
    FailureMode mode, const LockoutParams& params, int64_t previous_blocks,
    int64_t now, bool* newly_blocked, Generation* counted);

// A new counter generation: random (getrandom), never 0.
Generation DrawGeneration();

// A success's take-back of its own provisional count (Store::RecordSuccess)
// on the record state *stored at `now`: when the counter is live, not
// blocked and has the generation `generation` (nonzero), one failure
// fewer, the state gone at none. Returns whether it changed *stored.
bool TakeBack(std::optional<StoredRecord>* stored, Generation generation,
              int64_t now);

// End of a block that starts at `now` and is the (previous_blocks+1)-th in
// the window: 0 for a permanent block.
int64_t BlockEnd(const LockoutParams& params, int64_t previous_blocks,
                 int64_t now);

// a + b, or the int64_t limit it would pass: a sum of counts read from a
// store (Redis: any client with the store's password writes them) never
// overflows.
inline int64_t AddSaturated(int64_t a, int64_t b) {
  int64_t sum;
  if (!__builtin_add_overflow(a, b, &sum)) return sum;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

// The counters of StoreStats for blocked / failing subjects of `kind`.
int64_t* BlockedCount(SubjectKind kind, StoreStats* stats);
int64_t* FailingCount(SubjectKind kind, StoreStats* stats);

// Adds the per-subject counts of StoreStats (blocked, permanent, failing,
// failures) for `entries`, which must be live at the time they were listed.
// Leaves blocks_in_window alone.
void CountEntries(std::span<const StoreEntry> entries, StoreStats* out);

// Sets *out to the per-subject counts (CountEntries) of every live record
// `store` lists at `now`, blocks_in_window 0. False with *err set when the
// store cannot list them.
bool CountListed(Store* store, int64_t now, StoreStats* out, std::string* err);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_STORE_LOGIC_H_
