#include "common/remember.h"

#include <algorithm>

namespace defender {

std::string PairName(std::string_view user, std::string_view host) {
  std::string name;
  name.reserve(user.size() + 1 + host.size());
  name += user;
  name += '@';
  name += host;
  return name;
}

bool SplitPair(std::string_view pair, std::string* user, std::string* host) {
  const size_t at = pair.rfind('@');
  if (at == std::string_view::npos) return false;
  *user = pair.substr(0, at);
  *host = pair.substr(at + 1);
  return true;
}

std::optional<size_t> PairIndex(std::span<const Subject> subjects) {
  for (size_t i = 0; i < subjects.size(); ++i) {
    if (subjects[i].kind == SubjectKind::kPair) return i;
  }
  return std::nullopt;
}

bool PairOf(std::span<const Subject> subjects, std::string* user,
            std::string* host) {
  const std::optional<size_t> i = PairIndex(subjects);
  return i && SplitPair(subjects[*i].name, user, host);
}

bool IsRemembered(const RememberedList& list, std::string_view host,
                  int64_t now) {
  return std::any_of(list.begin(), list.end(), [&](const RememberedHost& r) {
    return r.host == host && r.until > now;
  });
}

void MarkExempt(std::span<const Subject> subjects, bool remembered,
                std::vector<SubjectState>* states) {
  if (!PairIndex(subjects)) return;
  for (size_t i = 0; i < subjects.size() && i < states->size(); ++i) {
    const SubjectKind kind = subjects[i].kind;
    (*states)[i].exempt =
        remembered ? kind == SubjectKind::kUser : kind == SubjectKind::kPair;
  }
}

bool SuccessResets(const Subject& subject, const SubjectState& before,
                   bool reset) {
  return reset && !(subject.kind == SubjectKind::kUser && before.exempt &&
                    before.blocked);
}

namespace {

// `t` rounded down to a whole hour (towards the past, also before 1970).
int64_t HourOf(int64_t t) {
  const int64_t r = t % kRememberRoundingSeconds;
  return t - (r < 0 ? r + kRememberRoundingSeconds : r);
}

}  // namespace

int64_t RememberUntil(int64_t now, int64_t seconds) {
  return HourOf(now + seconds) + kRememberRoundingSeconds;
}

int64_t RememberedSince(int64_t until, int64_t seconds) {
  return HourOf(until - seconds - 1);
}

bool RememberHost(RememberedList* list, std::string_view host, int64_t until,
                  int64_t now) {
  // Unchanged: `host` there once, until `until`, and nothing to drop.
  int entries = 0;
  bool same = false;
  bool expired = false;
  for (const RememberedHost& r : *list) {
    expired = expired || r.until <= now;
    if (r.host == host) {
      ++entries;
      same = r.until == until;
    }
  }
  if (entries == 1 && same && !expired && list->size() <= kMaxRememberedHosts) {
    return false;
  }
  DropRemembered(list, now, /*forget=*/true, std::string(host));
  list->push_back(RememberedHost{std::string(host), until});
  if (list->size() <= kMaxRememberedHosts) return true;
  // Keep the kMaxRememberedHosts that end last (ties: the greater host
  // name, as a Redis sorted set orders them).
  std::sort(list->begin(), list->end(),
            [](const RememberedHost& a, const RememberedHost& b) {
              return a.until != b.until ? a.until > b.until : a.host > b.host;
            });
  list->resize(kMaxRememberedHosts);
  return true;
}

int64_t DropRemembered(RememberedList* list, int64_t now, bool forget,
                       const std::optional<std::string>& host) {
  return static_cast<int64_t>(
      std::erase_if(*list, [&](const RememberedHost& r) {
        return r.until <= now || (forget && (!host || r.host == *host));
      }));
}

}  // namespace defender
