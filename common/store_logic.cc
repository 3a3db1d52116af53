#include "common/store_logic.h"

#include <sys/random.h>
#include <time.h>

#include <algorithm>

#include "common/lazy_libc.h"

namespace defender {

bool IsRefused(RefusalRule rule, std::span<const SubjectState> states) {
  if (rule == RefusalRule::kNever) return false;
  bool any = false;
  bool all = true;
  bool counted = false;
  for (const SubjectState& s : states) {
    if (s.exempt) continue;
    counted = true;
    any = any || s.blocked;
    all = all && s.blocked;
  }
  return counted && (rule == RefusalRule::kAny ? any : all);
}

int64_t BlockEnd(const LockoutParams& params, int64_t previous_blocks,
                 int64_t now) {
  const auto& lengths = params.lockout_lengths;
  if (lengths.empty()) return 0;
  const size_t index = static_cast<size_t>(std::clamp<int64_t>(
      previous_blocks, 0, static_cast<int64_t>(lengths.size()) - 1));
  const int64_t length = lengths[index];
  return length == 0 ? 0 : now + length;
}

namespace {

// kCount blocks the failure that goes above the limit; the other modes
// block a counter that is above it already.
bool FailureBlocks(int64_t failures, int64_t limit, FailureMode mode) {
  return mode == FailureMode::kCount ? failures + 1 > limit : failures > limit;
}

}  // namespace

std::optional<StoredRecord> ApplyFailure(
    const std::optional<StoredRecord>& stored, const FailureRequest& request,
    FailureMode mode, const LockoutParams& params, int64_t previous_blocks,
    int64_t now, bool* newly_blocked, Generation* counted) {
  *newly_blocked = false;
  *counted = 0;
  const bool live = stored && IsLive(*stored, now);
  if (live && stored->blocked) return std::nullopt;
  const int64_t failures = live ? stored->failures : 0;
  // A conclusion whose provisional count is not on this counter (none
  // landed here, or a reset or the counter's end took it) counts now.
  if (mode == FailureMode::kConclude &&
      !(live && request.provisional != 0 &&
        stored->generation == request.provisional)) {
    mode = FailureMode::kCount;
  }
  const bool blocks = FailureBlocks(failures, request.limit, mode);
  if (!blocks && mode == FailureMode::kConclude) {
    return std::nullopt;  // Counted already; the counter's life unchanged.
  }
  StoredRecord r;
  r.failures = failures;
  // Drawn only for a counter that starts (or has none): most failures
  // count on a live counter and make no getrandom call.
  r.generation =
      live && stored->generation != 0 ? stored->generation : DrawGeneration();
  if (blocks) {
    if (mode == FailureMode::kCount) {
      ++r.failures;
      *counted = r.generation;
    }
    r.blocked = true;
    r.expires = BlockEnd(params, previous_blocks, now);
    *newly_blocked = true;
  } else {
    ++r.failures;
    r.expires = params.attempt_ttl == 0 ? 0 : now + params.attempt_ttl;
    *counted = r.generation;
  }
  return r;
}

bool TakeBack(std::optional<StoredRecord>* stored, Generation generation,
              int64_t now) {
  std::optional<StoredRecord>& r = *stored;
  if (generation == 0 || !r || !IsLive(*r, now) || r->blocked ||
      r->generation != generation || r->failures <= 0) {
    return false;
  }
  if (--r->failures == 0) r.reset();
  return true;
}

Generation DrawGeneration() {
  Generation g = 0;
  // getrandom() fails only before the kernel's pool is ready (early boot)
  // or where it is missing: then the time and the process id, which differ
  // between any two steps that could start counters of one subject.
  if (lazy::getrandom(&g, sizeof g, GRND_NONBLOCK) != sizeof g) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    const uint64_t mix = (static_cast<uint64_t>(ts.tv_sec) << 30) ^
                         static_cast<uint64_t>(ts.tv_nsec) ^
                         (static_cast<uint64_t>(lazy::getpid()) << 40);
    g = static_cast<Generation>(mix ^ (mix >> 32));
  }
  return g == 0 ? 1 : g;
}

int64_t* BlockedCount(SubjectKind kind, StoreStats* stats) {
  switch (kind) {
    case SubjectKind::kHost:
      return &stats->blocked_hosts;
    case SubjectKind::kPair:
      return &stats->blocked_pairs;
    case SubjectKind::kUser:
      break;
  }
  return &stats->blocked_users;
}

int64_t* FailingCount(SubjectKind kind, StoreStats* stats) {
  switch (kind) {
    case SubjectKind::kHost:
      return &stats->failing_hosts;
    case SubjectKind::kPair:
      return &stats->failing_pairs;
    case SubjectKind::kUser:
      break;
  }
  return &stats->failing_users;
}

void CountEntries(std::span<const StoreEntry> entries, StoreStats* out) {
  for (const StoreEntry& e : entries) {
    out->failures = AddSaturated(out->failures, e.state.failures);
    if (e.state.blocked) {
      ++*BlockedCount(e.subject.kind, out);
      if (e.state.permanent()) ++out->permanent_blocks;
    } else if (e.state.failures > 0) {
      ++*FailingCount(e.subject.kind, out);
    }
  }
}

bool CountListed(Store* store, int64_t now, StoreStats* out, std::string* err) {
  *out = StoreStats{};
  std::vector<StoreEntry> entries;
  if (!store->List(now, false, &entries, err)) return false;
  CountEntries(entries, out);
  return true;
}

}  // namespace defender
