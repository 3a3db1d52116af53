#include "common/store_logic.h"

#include <algorithm>

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
    const std::optional<StoredRecord>& stored, int64_t limit, FailureMode mode,
    const LockoutParams& params, int64_t previous_blocks, int64_t now,
    bool* newly_blocked) {
  *newly_blocked = false;
  const bool live = stored && IsLive(*stored, now);
  if (live && stored->blocked) return std::nullopt;
  const int64_t failures = live ? stored->failures : 0;
  const int64_t pending =
      live ? std::clamp<int64_t>(stored->pending, 0, kMaxPending) : 0;
  // A conclusion with no pending attempt left (a success, an unblock or
  // the counter's end took its count since preauth) counts again.
  if (mode == FailureMode::kConclude && pending == 0) {
    mode = FailureMode::kCount;
  }
  StoredRecord r;
  r.failures = failures;
  if (FailureBlocks(failures, limit, mode)) {
    if (mode == FailureMode::kCount) ++r.failures;
    r.blocked = true;
    r.expires = BlockEnd(params, previous_blocks, now);
    *newly_blocked = true;
  } else if (mode == FailureMode::kConclude) {
    // Counted already: one pending attempt fewer, the counter's life
    // unchanged.
    r = *stored;
    r.pending = pending - 1;
  } else {
    ++r.failures;
    r.expires = params.attempt_ttl == 0 ? 0 : now + params.attempt_ttl;
    r.pending = mode == FailureMode::kProvisional
                    ? std::min(pending + 1, kMaxPending)
                    : pending;
  }
  return r;
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
