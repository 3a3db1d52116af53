#include "defenderctl/firewall_sync.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "common/lock_wait.h"
#include "common/normalize.h"

namespace defender::ctl {
namespace {

// The element for a blocked state at `now` (timeout 0: permanent). A
// block with more than kMaxDurationSeconds left (none that a configuration
// or defenderctl makes; a hand-made record or a hostile Redis) is an
// element without a timeout: a sync removes it when the block ends, as it
// does a permanent one, and the kernel is never given a timeout it refuses.
FirewallElement WithTimeout(FirewallElement e, const SubjectState& s,
                            int64_t now) {
  const int64_t left = s.permanent() ? 0 : s.Remaining(now);
  e.timeout = left > kMaxDurationSeconds ? 0 : left;
  return e;
}

bool SameTimeout(const FirewallElement& have, const FirewallElement& want) {
  if ((have.timeout == 0) != (want.timeout == 0)) return false;
  return std::abs(have.timeout - want.timeout) <= kTimeoutSlackSeconds;
}

// Permanent first, then the longest remaining.
bool Preferred(const FirewallElement& a, const FirewallElement& b) {
  if ((a.timeout == 0) != (b.timeout == 0)) return a.timeout == 0;
  return a.timeout > b.timeout;
}

// Keeps at most `max` of `want` and returns how many it left out. Each
// family is first given up to half of `max`, its preferred elements, so
// that blocks of one (IPv6 /64s, of which an attacker has many) cannot push
// every host of the other out of the sets; what a family leaves of its half
// goes to the other's next preferred.
int64_t Cap(std::vector<FirewallElement>* want, int64_t max) {
  if (static_cast<int64_t>(want->size()) <= max) return 0;
  std::stable_sort(want->begin(), want->end(), Preferred);
  const int64_t half = max / 2;
  int64_t taken[2] = {0, 0};
  std::vector<FirewallElement> kept;
  std::vector<FirewallElement> rest;
  for (FirewallElement& e : *want) {
    if (taken[e.v6] < half) {
      ++taken[e.v6];
      kept.push_back(std::move(e));
    } else {
      rest.push_back(std::move(e));
    }
  }
  for (FirewallElement& e : rest) {
    if (static_cast<int64_t>(kept.size()) == max) break;
    kept.push_back(std::move(e));
  }
  const int64_t left_out = static_cast<int64_t>(want->size() - kept.size());
  *want = std::move(kept);
  return left_out;
}

// Holds the firewall lock of `t` (SyncTarget::lock_dir_fd) for its
// lifetime, when `t` has one.
class SyncLock {
 public:
  explicit SyncLock(const SyncTarget& t) : t_(t) {}
  ~SyncLock() {
    if (fd_ >= 0) close(fd_);
  }
  SyncLock(const SyncLock&) = delete;
  SyncLock& operator=(const SyncLock&) = delete;

  bool Take(std::string* err) {
    if (t_.lock_dir_fd < 0) return true;
    const std::string& name = t_.lock_file;
    fd_ = openat(
        t_.lock_dir_fd, name.c_str(),
        O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
        0600);
    if (fd_ < 0) {
      *err = "cannot open " + name + ": " + std::strerror(errno);
      return false;
    }
    struct stat st;
    if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
      *err = name +
             " is not a regular file owned by this user, closed to group "
             "and others";
      return false;
    }
    if (!WaitFlock(fd_, LOCK_EX, t_.lock_timeout_ms)) {
      *err = errno == ETIMEDOUT
                 ? name + " held by another sync for " +
                       std::to_string(t_.lock_timeout_ms) + " ms"
                 : "cannot lock " + name + ": " + std::strerror(errno);
      return false;
    }
    return true;
  }

 private:
  const SyncTarget& t_;
  int fd_ = -1;
};

std::string Key(const FirewallElement& e) {
  return (e.v6 ? "6 " : "4 ") + e.addr;
}

}  // namespace

std::string FirewallLockFile(const std::string& table) {
  return "firewall-" + table + ".lock";
}

bool SyncAll(const SyncTarget& t, int64_t now, SyncChanges* changes,
             std::string* err) {
  SyncLock lock(t);
  if (!lock.Take(err)) return false;
  std::vector<StoreEntry> entries;
  changes->off = t.guard->off();
  if (changes->off.empty() &&
      !t.store->List(now, /*blocked_only=*/true, &entries, err)) {
    return false;
  }
  std::vector<FirewallElement> want;
  for (const StoreEntry& e : entries) {
    if (e.subject.kind != SubjectKind::kHost || !e.state.blocked) continue;
    if (!e.state.permanent() && e.state.Remaining(now) <= 0) continue;
    FirewallElement el;
    std::string why;
    if (!t.guard->Admit(e.subject.name, &el, &why)) {
      changes->refused.emplace_back(e.subject.name, why);
      continue;
    }
    want.push_back(WithTimeout(el, e.state, now));
  }
  changes->over_cap = Cap(&want, t.max_elements);
  if (!t.firewall->Ensure(&changes->created, err)) return false;
  std::vector<FirewallElement> have;
  bool exists = false;
  if (!t.firewall->List(&have, &exists, err)) return false;
  std::map<std::string, FirewallElement> current;
  for (const FirewallElement& e : have) current[Key(e)] = e;
  for (const FirewallElement& w : want) {
    const auto it = current.find(Key(w));
    if (it == current.end()) {
      changes->added.push_back(w);
    } else {
      if (!SameTimeout(it->second, w)) {
        changes->updated.push_back(w);
      }
      current.erase(it);
    }
  }
  bool remove_v4 = false;
  bool remove_v6 = false;
  for (const auto& [key, e] : current) {
    changes->removed.push_back(e);
    (e.v6 ? remove_v6 : remove_v4) = true;
  }
  // A set that loses elements is rebuilt (Firewall::Replace); the other
  // only gets what is new.
  const auto rest = [&](const std::vector<FirewallElement>& from) {
    std::vector<FirewallElement> out;
    for (const FirewallElement& e : from) {
      if (!(e.v6 ? remove_v6 : remove_v4)) out.push_back(e);
    }
    return out;
  };
  if (((remove_v4 || remove_v6) &&
       !t.firewall->Replace(want, remove_v4, remove_v6, err)) ||
      !t.firewall->Apply(rest(changes->added), rest(changes->updated), {},
                         err)) {
    return false;
  }
  changes->elements = want.size();
  return true;
}

bool SyncHosts(const SyncTarget& t, std::span<const std::string> subjects,
               int64_t now, size_t* present, SyncChanges* changes,
               std::string* err) {
  SyncLock lock(t);
  if (!lock.Take(err)) return false;
  // What each subject, named once, should have in the sets.
  struct Wanted {
    const std::string* subject;
    bool admitted;
    std::optional<FirewallElement> element;  // Blocked: with its timeout.
  };
  std::vector<Wanted> wanted;
  std::set<std::string_view> named;
  for (const std::string& subject : subjects) {
    if (!named.insert(subject).second) continue;
    FirewallElement el;
    std::string why;
    const bool admitted = t.guard->Admit(subject, &el, &why);
    if (!admitted) {
      changes->refused.emplace_back(subject, why);
      // An address the guard refuses now may have been added before (the
      // administrator allow-listed it to get in; ipv6_prefix changed):
      // its element goes below, whatever the store says. A host name never
      // was one.
      if (ParseIp(subject.substr(0, subject.find('/')))) {
        wanted.push_back({&subject, false, std::nullopt});
      }
      continue;
    }
    const Subject s{SubjectKind::kHost, subject};
    std::vector<SubjectState> states;
    why.clear();
    if (!t.store->Get({&s, 1}, now, &states, &why)) {
      // One damaged record does not hold up the others' events.
      changes->unread.emplace_back(subject, std::move(why));
      continue;
    }
    const SubjectState& st = states[0];
    const bool blocked =
        st.blocked && (st.permanent() || st.Remaining(now) > 0);
    wanted.push_back(
        {&subject, true,
         blocked ? std::optional(WithTimeout(el, st, now)) : std::nullopt});
  }
  if (!changes->unread.empty() && changes->refused.empty() && wanted.empty()) {
    *err = changes->unread.back().second;
    return false;
  }
  if (wanted.empty()) return true;
  // One listing for them all: with 20,000 elements it takes 0.2 s.
  std::vector<FirewallElement> have;
  bool exists = false;
  if (!t.firewall->List(&have, &exists, err)) return false;
  // An admitted subject is the canonical text its element is listed with.
  std::map<std::string_view, const FirewallElement*> listed;
  for (const FirewallElement& h : have) listed.emplace(h.addr, &h);
  size_t count = have.size();
  std::vector<FirewallElement> update;
  for (const Wanted& w : wanted) {
    const auto it = listed.find(*w.subject);
    if (!w.element) {
      if (it == listed.end()) {
        if (w.admitted) changes->not_blocked.push_back(*w.subject);
        continue;
      }
      changes->removed.push_back(*it->second);
      --count;
      continue;
    }
    if (it != listed.end()) {
      if (SameTimeout(*it->second, *w.element)) continue;
      changes->updated.push_back(*w.element);
    } else if (static_cast<int64_t>(count) >= t.max_elements) {
      ++changes->over_cap;
      continue;
    } else {
      changes->added.push_back(*w.element);
      ++count;
    }
    // As an update even when the listing did not have it: another process
    // (a hook, the watcher) may have added it since, with another timeout,
    // which a plain add would leave.
    update.push_back(*w.element);
  }
  if ((!update.empty() || !changes->removed.empty()) &&
      !t.firewall->Apply({}, update, changes->removed, err)) {
    return false;
  }
  *present = count;
  return true;
}

void KeepNewRefusals(SyncChanges* c, std::set<std::string>* seen,
                     size_t limit) {
  std::set<std::string> now;
  std::vector<std::pair<std::string, std::string>> fresh;
  for (auto& r : c->refused) {
    if (now.size() < limit) now.insert(r.first);
    if (seen->count(r.first) == 0) fresh.push_back(std::move(r));
  }
  c->refused = std::move(fresh);
  *seen = std::move(now);
}

std::string DescribeChanges(const SyncChanges& c) {
  const auto line = [](char sign, const FirewallElement& e) {
    return std::string(1, sign) + " " + e.addr + " (" +
           (e.timeout ? std::to_string(e.timeout) + "s" : "permanent") + ")\n";
  };
  std::string o;
  if (c.created) o += "created the table\n";
  for (const FirewallElement& e : c.added) o += line('+', e);
  for (const FirewallElement& e : c.updated) o += line('~', e);
  for (const FirewallElement& e : c.removed) o += line('-', e);
  for (const auto& [subject, why] : c.refused) {
    o += "! " + EscapeForDisplay(subject) + " not dropped: " + why + "\n";
  }
  if (c.over_cap > 0) {
    o += "! firewall.max_elements reached: " + std::to_string(c.over_cap) +
         " blocked host(s) not dropped\n";
  }
  if (!c.off.empty()) o += "! no host is dropped: " + c.off + "\n";
  return o;
}

}  // namespace defender::ctl
