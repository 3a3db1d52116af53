#include "common/store_logic.h"

#include <algorithm>

namespace defender {

bool IsRefused(RefusalRule rule, std::span<const SubjectState> states) {
  if (states.empty() || rule == RefusalRule::kNever) return false;
  const auto blocked = [](const SubjectState& s) { return s.blocked; };
  return rule == RefusalRule::kAny
             ? std::any_of(states.begin(), states.end(), blocked)
             : std::all_of(states.begin(), states.end(), blocked);
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

// kConclude with no counter left is a plain count (common/store.h).
FailureMode Effective(const SubjectState& current, FailureMode mode) {
  return mode == FailureMode::kConclude && current.failures == 0
             ? FailureMode::kCount
             : mode;
}

}  // namespace

bool FailureBlocks(const SubjectState& current, int64_t limit,
                   FailureMode mode) {
  mode = Effective(current, mode);
  // kCount blocks the failure that goes above the limit; the other modes
  // block a counter that is above it already.
  return mode == FailureMode::kCount ? current.failures + 1 > limit
                                     : current.failures > limit;
}

std::optional<StoredRecord> ApplyFailure(const SubjectState& current,
                                         int64_t limit, FailureMode mode,
                                         const LockoutParams& params,
                                         int64_t previous_blocks, int64_t now,
                                         bool* newly_blocked) {
  *newly_blocked = false;
  if (current.blocked) return std::nullopt;
  mode = Effective(current, mode);
  StoredRecord r;
  r.failures = current.failures;
  if (FailureBlocks(current, limit, mode)) {
    if (mode == FailureMode::kCount) ++r.failures;
    r.blocked = true;
    r.expires = BlockEnd(params, previous_blocks, now);
    *newly_blocked = true;
  } else if (mode == FailureMode::kConclude) {
    return std::nullopt;
  } else {
    ++r.failures;
    r.expires = params.attempt_ttl == 0 ? 0 : now + params.attempt_ttl;
  }
  return r;
}

void CountEntries(std::span<const StoreEntry> entries, StoreStats* out) {
  for (const StoreEntry& e : entries) {
    const bool user = e.subject.kind == SubjectKind::kUser;
    out->failures += e.state.failures;
    if (e.state.blocked) {
      ++(user ? out->blocked_users : out->blocked_hosts);
      if (e.state.permanent()) ++out->permanent_blocks;
    } else if (e.state.failures > 0) {
      ++(user ? out->failing_users : out->failing_hosts);
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
