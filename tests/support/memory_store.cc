#include "tests/support/memory_store.h"

#include <algorithm>
#include <thread>

namespace defender {

bool MemoryStore::Fail(std::string* err) const {
  if (!failing_) return false;
  std::this_thread::sleep_for(fail_after_);
  *err = "memory store: injected failure";
  return true;
}

std::optional<StoredRecord> MemoryStore::Find(const Subject& s) const {
  auto it = records_.find(KeyOf(s));
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

int64_t MemoryStore::BlocksSince(const Subject& s, int64_t since) const {
  auto it = history_.find(KeyOf(s));
  if (it == history_.end()) return 0;
  return std::count_if(it->second.begin(), it->second.end(),
                       [&](int64_t t) { return t > since; });
}

bool MemoryStore::Get(std::span<const Subject> subjects, int64_t now,
                      std::vector<SubjectState>* out, std::string* err) {
  if (Fail(err)) return false;
  for (const Subject& s : subjects) {
    if (s.name == unreadable_) {
      *err = "memory store: " + s.name + ": injected read failure";
      return false;
    }
  }
  out->clear();
  for (const Subject& s : subjects) out->push_back(StateOf(Find(s), now));
  std::string user;
  std::string host;
  if (PairOf(subjects, &user, &host)) {
    auto it = remembered_.find(user);
    MarkExempt(subjects,
               it != remembered_.end() && IsRemembered(it->second, host, now),
               out);
  }
  return true;
}

bool MemoryStore::RecordFailure(std::span<const FailureRequest> requests,
                                RefusalRule rule, FailureMode mode,
                                const LockoutParams& params, int64_t now,
                                std::vector<FailureOutcome>* out, bool* refused,
                                std::string* err) {
  if (Fail(err)) return false;
  out->clear();
  std::vector<Subject> subjects;
  for (const FailureRequest& req : requests) subjects.push_back(req.subject);
  std::vector<SubjectState> states;
  if (!Get(subjects, now, &states, err)) return false;
  *refused = IsRefused(rule, states);
  if (*refused) {
    for (const SubjectState& s : states) out->push_back({s, false});
    return true;
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    const FailureRequest& req = requests[i];
    const SubjectState& current = states[i];
    if (current.exempt && req.subject.kind == SubjectKind::kPair) {
      out->push_back({current, false});
      continue;
    }
    const int64_t previous =
        BlocksSince(req.subject, now - params.history_seconds);
    FailureOutcome outcome;
    std::optional<StoredRecord> next =
        ApplyFailure(Find(req.subject), req, mode, params, previous, now,
                     &outcome.newly_blocked, &outcome.counted);
    if (next) {
      records_[KeyOf(req.subject)] = *next;
      if (outcome.newly_blocked) history_[KeyOf(req.subject)].push_back(now);
      outcome.state = StateOf(next, now);
      outcome.state.exempt = current.exempt;
    } else {
      outcome.state = current;
    }
    out->push_back(outcome);
  }
  return true;
}

bool MemoryStore::RecordSuccess(std::span<const Subject> subjects,
                                std::span<const bool> reset,
                                std::span<const Generation> take_back,
                                RefusalRule rule, int64_t remember_seconds,
                                int64_t now, std::vector<SubjectState>* before,
                                bool* refused, std::string* err) {
  if (!Get(subjects, now, before, err)) return false;
  *refused = IsRefused(rule, *before);
  if (*refused) return true;
  for (size_t i = 0; i < subjects.size(); ++i) {
    if (SuccessResets(subjects[i], (*before)[i], reset[i])) {
      records_.erase(KeyOf(subjects[i]));
    } else if (!take_back.empty()) {
      std::optional<StoredRecord> r = Find(subjects[i]);
      if (TakeBack(&r, take_back[i], now)) {
        if (r) {
          records_[KeyOf(subjects[i])] = *r;
        } else {
          records_.erase(KeyOf(subjects[i]));
        }
      }
    }
  }
  std::string user;
  std::string host;
  if (remember_seconds > 0 && PairOf(subjects, &user, &host)) {
    RememberHost(&remembered_[user], host, RememberUntil(now, remember_seconds),
                 now);
  }
  return true;
}

bool MemoryStore::Block(const Subject& subject, int64_t until, int64_t now,
                        std::string* err) {
  if (Fail(err)) return false;
  const SubjectState current = StateOf(Find(subject), now);
  records_[KeyOf(subject)] = StoredRecord{current.failures, true, until};
  history_[KeyOf(subject)].push_back(now);
  return true;
}

bool MemoryStore::Unblock(const Subject& subject, int64_t now,
                          bool* was_blocked, std::string* err) {
  if (Fail(err)) return false;
  *was_blocked = StateOf(Find(subject), now).blocked;
  records_.erase(KeyOf(subject));
  return true;
}

bool MemoryStore::UnblockAll(int64_t now, std::vector<Subject>* cleared,
                             std::string* err) {
  if (Fail(err)) return false;
  cleared->clear();
  for (auto it = records_.begin(); it != records_.end();) {
    if (StateOf(it->second, now).blocked) {
      cleared->push_back(Subject{it->first.first, it->first.second});
      it = records_.erase(it);
    } else {
      ++it;
    }
  }
  return true;
}

bool MemoryStore::List(int64_t now, bool blocked_only,
                       std::vector<StoreEntry>* out, std::string* err) {
  if (Fail(err)) return false;
  out->clear();
  for (const auto& [key, record] : records_) {  // std::map: sorted.
    const SubjectState state = StateOf(record, now);
    if (!IsLive(record, now) || (blocked_only && !state.blocked)) continue;
    out->push_back(StoreEntry{Subject{key.first, key.second}, state});
  }
  return true;
}

bool MemoryStore::Stats(int64_t now, int64_t history_seconds, StoreStats* out,
                        std::string* err) {
  if (!CountListed(this, now, out, err)) return false;
  for (const auto& [key, times] : history_) {
    out->blocks_in_window +=
        std::count_if(times.begin(), times.end(),
                      [&](int64_t t) { return t > now - history_seconds; });
  }
  return true;
}

bool MemoryStore::ListRemembered(int64_t now, std::vector<RememberedEntry>* out,
                                 std::string* err) {
  if (Fail(err)) return false;
  out->clear();
  for (const auto& [user, list] : remembered_) {
    RememberedList live = list;
    DropRemembered(&live, now, /*forget=*/false, std::nullopt);
    std::sort(live.begin(), live.end(),
              [](const RememberedHost& a, const RememberedHost& b) {
                return a.host < b.host;
              });
    for (const RememberedHost& r : live) {
      out->push_back(RememberedEntry{user, r.host, r.until});
    }
  }
  return true;
}

bool MemoryStore::Forget(const std::string& user,
                         const std::optional<std::string>& host, int64_t now,
                         int64_t* removed, std::string* err) {
  if (Fail(err)) return false;
  auto it = remembered_.find(user);
  *removed = 0;
  if (it == remembered_.end()) return true;
  DropRemembered(&it->second, now, /*forget=*/false, std::nullopt);
  *removed = DropRemembered(&it->second, now, /*forget=*/true, host);
  if (it->second.empty()) remembered_.erase(it);
  return true;
}

bool MemoryStore::Prune(int64_t now, int64_t history_seconds, int64_t* removed,
                        std::string* err) {
  if (Fail(err)) return false;
  *removed = 0;
  for (auto& [user, list] : remembered_) {
    *removed += DropRemembered(&list, now, /*forget=*/false, std::nullopt);
  }
  std::erase_if(remembered_, [](const auto& kv) { return kv.second.empty(); });
  for (auto it = records_.begin(); it != records_.end();) {
    if (IsLive(it->second, now)) {
      ++it;
    } else {
      it = records_.erase(it);
      ++*removed;
    }
  }
  for (auto& [key, times] : history_) {
    *removed += std::erase_if(
        times, [&](int64_t t) { return t <= now - history_seconds; });
  }
  std::erase_if(history_, [](const auto& kv) { return kv.second.empty(); });
  return true;
}

}  // namespace defender
