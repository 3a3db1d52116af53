#include "common/local_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/error.h"
#include "common/lazy_libc.h"
#include "common/lock_wait.h"
#include "common/mutex.h"
#include "common/parallel.h"
#include "common/store_dir.h"
#include "common/trusted_file.h"

namespace defender {
namespace {

static_assert(kMaxHistory >= Config::kMaxLockoutSteps,
              "the history must tell every lockout length apart");

// Steps that do not prune history keep all of it.
constexpr int64_t kKeepHistory = INT64_MIN;
// Reads of a record file without a lock before Read takes LOCK_SH.
constexpr int kLockFreeReads = 3;
// Times a step starts again because a pair's file was locked by another
// (LocalStore::WaitAlone) before it fails as if the lock timed out.
constexpr int kMaxRestarts = 16;
// Threads that read the record files for List, Stats and ListRemembered
// (at most one per processor): the time goes to the four system calls per
// file, which run side by side (bench/README.md, "defenderctl").
constexpr int kListReaders = 4;
// Files a reader takes from the directory at once, with more than one.
constexpr size_t kForEachBatch = 64;

// Why a record file could not be opened, from errno.
std::string OpenError(const std::string& path) {
  if (errno == ELOOP) return path + ": untrusted store: a symlink";
  if (errno == EISDIR) return path + ": untrusted store: not a regular file";
  return ErrnoMessage(path, "cannot open");
}

// openat(dirfd, name, flags | O_NOATIME, 0600). Without O_NOATIME the first
// read after each write would set the access time (relatime) and so write
// the inode: one more inode write in every step that reads a record its
// last step changed. O_NOATIME needs the caller to own the file (or
// CAP_FOWNER); a file someone else owns is opened without it, and the trust
// check then says whose it is.
int OpenRecordFile(int dirfd, const char* name, int flags) {
  const int fd = openat(dirfd, name, flags | O_NOATIME, 0600);
  if (fd >= 0 || errno != EPERM) return fd;
  return openat(dirfd, name, flags, 0600);
}

// A record file's bytes, read into a buffer that is not zeroed first (a
// login reads several files; clearing 4 KiB each time showed in profiles).
struct RecordBytes {
  std::array<uint8_t, kRecordFileMaxBytes + 1> buf;
  size_t size = 0;
  std::span<const uint8_t> span() const { return {buf.data(), size}; }
};

// Reads a record file's bytes (at most kRecordFileMaxBytes).
bool ReadFile(int fd, const LazyPath& path, RecordBytes* out,
              std::string* err) {
  ssize_t n;
  do {
    n = pread(fd, out->buf.data(), out->buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    *err = ErrnoMessage(path.str(), "cannot read");
    return false;
  }
  if (static_cast<size_t>(n) > kRecordFileMaxBytes) {
    *err = path.str() + ": untrusted store: not a subject record (over " +
           std::to_string(kRecordFileMaxBytes) + " bytes)";
    return false;
  }
  out->size = static_cast<size_t>(n);
  return true;
}

// Checks an open record file: trusted (owned by `euid`) and not too long.
bool CheckRecordFile(int fd, const LazyPath& path, uid_t euid, struct stat* st,
                     std::string* err) {
  if (!CheckTrusted(fd, path, /*dir=*/false, euid, st, err)) return false;
  if (st->st_size > static_cast<off_t>(kRecordFileMaxBytes)) {
    *err = path.str() + ": untrusted store: not a subject record (" +
           std::to_string(st->st_size) + " bytes)";
    return false;
  }
  return true;
}

// Users, then hosts, then pairs; by name within a kind.
bool SubjectOrder(const Subject& a, const Subject& b) {
  if (a.kind != b.kind) return a.kind < b.kind;
  return a.name < b.name;
}

}  // namespace

// The record files one step holds, closed (and so unlocked) at the end.
class LocalStore::HeldSet {
 public:
  ~HeldSet() { Release(); }
  // Unlocks and closes every file, the last locked first: a pair's lock,
  // taken last, is let go before U's, so a step that gets U's lock next
  // finds the pair's free rather than starting again (LockStates).
  // Unlocking before closing releases the lock even if a copy of the
  // descriptor lives on in a child that another thread of the host process
  // forked meanwhile.
  void Release() {
    for (auto h = files.rbegin(); h != files.rend(); ++h) {
      if (h->fd >= 0) {
        if (h->locked) flock(h->fd, LOCK_UN);
        close(h->fd);
      }
      h->fd = -1;
    }
  }
  // Releases every file and forgets them (a step starting again).
  void Clear() {
    Release();
    files.clear();
    index.clear();
  }
  Held& at(size_t subject) { return files[index[subject]]; }

  std::vector<Held> files;    // In lock order (local_store.h).
  std::vector<size_t> index;  // Subject i's entry in `files`.
};

std::unique_ptr<LocalStore> LocalStore::Open(const std::string& dir,
                                             int lock_timeout_ms,
                                             std::string* err) {
  Error e;
  std::unique_ptr<LocalStore> store = Open(dir, lock_timeout_ms, &e);
  if (!store) *err = std::move(e.message);
  return store;
}

std::unique_ptr<LocalStore> LocalStore::Open(const std::string& dir,
                                             int lock_timeout_ms, Error* err) {
  std::shared_ptr<StoreDir> d = StoreDir::Open(dir, err);
  if (!d) return nullptr;
  return Open(std::move(d), lock_timeout_ms);
}

std::unique_ptr<LocalStore> LocalStore::Open(std::shared_ptr<StoreDir> dir,
                                             int lock_timeout_ms) {
  return std::unique_ptr<LocalStore>(
      new LocalStore(std::move(dir), lock_timeout_ms));
}

LocalStore::LocalStore(std::shared_ptr<StoreDir> dir, int lock_timeout_ms)
    : store_dir_(std::move(dir)),
      lock_timeout_ms_(lock_timeout_ms),
      waits_(lock_timeout_ms) {}

LocalStore::~LocalStore() = default;

LazyPath LocalStore::PathOf(const std::string& file) const {
  return LazyPath(dir(), kSubjectsDir, file);
}

static_assert(std::tuple_size_v<SipKey> == kStoreKeyBytes);

bool LocalStore::LoadKey(bool create, std::string* err) {
  if (key_) return true;
  const std::string path = PathOf(kKeyFile).str();
  int fd = openat(subjects_fd(), kKeyFile,
                  O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0 && errno == ENOENT && !create) return true;  // No key yet.
  if (fd < 0 && errno == ENOENT && create) {
    // Written in full under a temporary name, synced, then linked: a
    // concurrent reader sees no key or the whole key, the first link wins,
    // and a power loss cannot leave the name on an empty file (no key
    // would ever be made again). Once per store.
    SipKey key;
    if (lazy::getrandom(key.data(), key.size(), 0) != ssize_t(key.size())) {
      *err = ErrnoMessage(path, "cannot get random bytes");
      return false;
    }
    const std::string tmp =
        std::string(kKeyFile) + "." + std::to_string(lazy::getpid());
    const int w =
        openat(subjects_fd(), tmp.c_str(),
               O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    const bool ok = w >= 0 && lazy::fchmod(w, 0600) == 0 &&
                    write(w, key.data(), key.size()) == ssize_t(key.size()) &&
                    lazy::fsync(w) == 0;
    if (w >= 0) close(w);
    if (ok &&
        lazy::linkat(subjects_fd(), tmp.c_str(), subjects_fd(), kKeyFile, 0) !=
            0 &&
        errno != EEXIST) {
      *err = ErrnoMessage(path, "cannot create");
      unlinkat(subjects_fd(), tmp.c_str(), 0);
      return false;
    }
    if (!ok) *err = ErrnoMessage(PathOf(tmp).str(), "cannot write");
    unlinkat(subjects_fd(), tmp.c_str(), 0);
    if (!ok) return false;
    fd = openat(subjects_fd(), kKeyFile,
                O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  }
  if (fd < 0) {
    *err = ErrnoMessage(path, "cannot open");
    return false;
  }
  struct stat st;
  SipKey key;
  bool ok = CheckTrusted(fd, path, /*dir=*/false, store_dir_->euid(), &st, err);
  if (ok && (st.st_size != ssize_t(key.size()) ||
             pread(fd, key.data(), key.size(), 0) != ssize_t(key.size()))) {
    *err = path + ": not a " + std::to_string(key.size()) + "-byte key";
    ok = false;
  }
  close(fd);
  if (ok) key_ = key;
  return ok;
}

bool LocalStore::FileName(const Subject& s, bool create_key, std::string* out,
                          std::string* err) {
  if (s.name.size() > kMaxRecordName) {
    *err =
        "subject name longer than " + std::to_string(kMaxRecordName) + " bytes";
    return false;
  }
  if (NeedsHashedName(s.name) && !LoadKey(create_key, err)) return false;
  *out = RecordFileName(s.kind, s.name, key_.value_or(SipKey{}));
  return true;
}

bool LocalStore::OpenLocked(const std::string& file, bool create, bool write,
                            WaitBudget* waits, int* fd, std::string* err,
                            bool* timed_out, bool* busy) {
  const LazyPath path = PathOf(file);  // Joined only for an error.
  const int flags = (write ? O_RDWR : O_RDONLY) | (create ? O_CREAT : 0) |
                    O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
  // Each retry follows an unlink by another step: bounded only as a guard.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    *fd = OpenRecordFile(subjects_fd(), file.c_str(), flags);
    if (*fd < 0) {
      if (errno == ENOENT && !create) return true;
      *err = OpenError(path.str());
      return false;
    }
    // A writer checks the file once it holds the lock: the one fstat says
    // whether it is trusted and whether it is still linked (Prune and
    // Unblock unlink emptied files under the lock; record files are never
    // renamed or linked elsewhere, so a linked one is the file the name
    // leads to).
    if (busy && !FlockNoWait(*fd, LOCK_EX)) {
      if (errno == EWOULDBLOCK) {
        *busy = true;
        close(*fd);
        *fd = -1;
        return false;
      }
      *err = ErrnoMessage(path.str(), "cannot lock");
      break;
    }
    if (write && !busy && !WaitFlock(*fd, LOCK_EX, waits)) {
      if (errno == ETIMEDOUT) lock_timed_out_ = true;
      if (timed_out) *timed_out = errno == ETIMEDOUT;
      *err = ErrnoMessage(path.str(), "cannot lock");
      break;
    }
    struct stat st;
    if (!CheckRecordFile(*fd, path, store_dir_->euid(), &st, err)) break;
    if (create && (st.st_mode & 07777) != 0600 &&
        lazy::fchmod(*fd, 0600) != 0) {
      *err = ErrnoMessage(path.str(), "cannot chmod");
      break;
    }
    // A read takes no lock: one of the record's two slots is always whole
    // (subject_record.h), and a file unlinked meanwhile held an empty record.
    if (!write || st.st_nlink > 0) return true;
    close(*fd);
    *fd = -1;
  }
  if (*fd >= 0) close(*fd);
  *fd = -1;
  if (err->empty()) *err = path.str() + ": cannot lock: keeps being replaced";
  return false;
}

bool LocalStore::Read(Held* h, const Subject* expect, WaitBudget* waits,
                      std::string* err) {
  h->slot = -1;
  if (h->fd >= 0) {
    const LazyPath path = PathOf(h->file);
    RecordBytes bytes;
    bool valid = false;
    for (int reads = 1;; ++reads) {
      if (!ReadFile(h->fd, path, &bytes, err)) return false;
      valid = DecodeRecordFile(bytes.span(), &h->rec, &h->slot);
      // Without a lock, bytes but no whole slot: one write finished and
      // another started while the file was read (or it is damaged). Read
      // again; the last time under LOCK_SH, which no writer holds.
      if (valid || h->locked || bytes.size == 0) break;
      if (reads == kLockFreeReads) {
        if (!WaitFlock(h->fd, LOCK_SH, waits)) {
          if (errno == ETIMEDOUT) lock_timed_out_ = true;
          *err = ErrnoMessage(path.str(), "cannot lock");
          return false;
        }
        h->locked = true;  // Until the file is closed.
      }
    }
    if (valid && (!expect || (h->rec.kind == expect->kind &&
                              h->rec.name == expect->name))) {
      return true;
    }
  }
  // Absent, garbage (a torn first write) or another subject's: empty,
  // overwritten by the next write. The sequence goes on past the bad one.
  const uint32_t seq = h->slot >= 0 ? h->rec.seq : 0;
  h->rec = SubjectRecord{};
  if (expect) {
    h->rec.kind = expect->kind;
    h->rec.name = expect->name;
  }
  h->rec.seq = seq;
  h->slot = -1;
  return true;
}

bool LocalStore::Finish(Held* h, int64_t now, int64_t history_since,
                        bool remove_empty, std::string* err) {
  if (h->fd < 0) return true;
  const LazyPath path = PathOf(h->file);  // Joined only for an error.
  // No record read and none written (a file this step created, refused,
  // or garbage): it goes even when emptied files stay.
  const bool no_record = h->slot < 0 && !h->dirty;
  if ((remove_empty || no_record) && h->rec.Empty(now, history_since)) {
    if (unlinkat(subjects_fd(), h->file.c_str(), 0) != 0 && errno != ENOENT) {
      *err = ErrnoMessage(path.str(), "cannot delete");
      return false;
    }
    return true;
  }
  if (!h->dirty) return true;
  h->rec.Trim(now, history_since);
  // Long host names may not all fit beside the history: the hosts that end
  // first go (a block may come after the list filled the slot).
  h->rec.FitRemembered();
  if (!FitsSlot(h->rec)) {  // Never written over the other slot.
    *err = path.str() + ": record does not fit in " +
           std::to_string(kSlotBytes) + " bytes";
    return false;
  }
  const std::string bytes = EncodeSlot(h->rec, h->rec.seq + 1);
  // The slot that does not hold the record read (subject_record.h).
  const off_t offset = h->slot == 0 ? kSlotBytes : 0;
  if (pwrite(h->fd, bytes.data(), bytes.size(), offset) !=
      static_cast<ssize_t>(bytes.size())) {
    *err = ErrnoMessage(path.str(), "cannot write");
    if (errno == 0) *err = path.str() + ": cannot write: short write";
    // A file that held no record (this step created it) goes rather than
    // stay empty: on a full file system each new address would leave one.
    if (h->slot < 0) unlinkat(subjects_fd(), h->file.c_str(), 0);
    return false;
  }
  return true;
}

bool LocalStore::Create::Of(SubjectKind kind) const {
  switch (kind) {
    case SubjectKind::kUser:
      return users;
    case SubjectKind::kHost:
      return hosts;
    case SubjectKind::kPair:
      return pairs;
  }
  return false;
}

bool LocalStore::Lock(std::span<const Subject> subjects, Create create,
                      bool write, HeldSet* held, std::string* err) {
  const size_t n = subjects.size();
  std::vector<std::string> names(n);
  // A read (Get) makes no key: without one, no hashed name exists yet.
  const bool create_key = create.users || create.hosts || create.pairs;
  for (size_t i = 0; i < n; ++i) {
    if (!FileName(subjects[i], create_key, &names[i], err)) return false;
  }
  // The distinct names in order, smallest first, each subject's entry in
  // `index`. A step has at most four subjects: selection by repeated
  // minimum allocates nothing more.
  constexpr size_t kUnset = SIZE_MAX;
  held->index.assign(n, kUnset);
  held->files.reserve(n);
  for (;;) {
    size_t min = kUnset;
    for (size_t i = 0; i < n; ++i) {
      if (held->index[i] == kUnset &&
          (min == kUnset || names[i] < names[min])) {
        min = i;
      }
    }
    if (min == kUnset) break;
    const size_t f = held->files.size();
    bool make = false;
    for (size_t i = 0; i < n; ++i) {
      if (held->index[i] == kUnset && names[i] == names[min]) {
        held->index[i] = f;
        make = make || create.Of(subjects[i].kind);
      }
    }
    Held& h = held->files.emplace_back();
    h.file = std::move(names[min]);
    if (!OpenLocked(h.file, make, write, &waits_, &h.fd, err)) {
      return false;
    }
    h.locked = write;
  }
  // Each file is read once, as its first subject's, in name order (the
  // lock order, which a lock-free read's LOCK_SH also takes).
  for (size_t f = 0; f < held->files.size(); ++f) {
    size_t first = 0;
    while (held->index[first] != f) ++first;
    if (!Read(&held->files[f], &subjects[first], &waits_, err)) return false;
  }
  return true;
}

bool LocalStore::LockLast(const Subject& subject, bool create, bool write,
                          Held* h, bool* busy, std::string* err) {
  *busy = false;
  if (!FileName(subject, create, &h->file, err) ||
      !OpenLocked(h->file, create, write, &waits_, &h->fd, err,
                  /*timed_out=*/nullptr, write ? busy : nullptr)) {
    return false;
  }
  h->locked = write;
  return Read(h, &subject, &waits_, err);
}

bool LocalStore::WaitAlone(const std::string& file, int* restarts,
                           std::string* err) {
  if ((*restarts)++ >= kMaxRestarts) {
    lock_timed_out_ = true;
    *err = PathOf(file).str() + ": cannot lock: kept busy by other steps";
    return false;
  }
  int fd;
  if (!OpenLocked(file, /*create=*/false, /*write=*/true, &waits_, &fd, err)) {
    return false;
  }
  // The step starts again. Unlocked before the close, as HeldSet::Release
  // does: a child forked meanwhile by another thread keeps no lock.
  if (fd >= 0) {
    flock(fd, LOCK_UN);
    close(fd);
  }
  return true;
}

bool LocalStore::LockStates(std::span<const Subject> subjects, Create create,
                            bool write, ExemptPair exempt_pair, int64_t now,
                            HeldSet* held, std::vector<SubjectState>* states,
                            Held** user, int* restarts, std::string* err) {
  std::string name;
  std::string host;
  const bool pair = PairOf(subjects, &name, &host);
  const size_t pair_at = pair ? *PairIndex(subjects) : 0;
  // U's entry first, then the subjects' but the pair's, which comes last in
  // the lock order.
  std::vector<Subject> head;
  head.reserve(subjects.size() + 1);
  if (pair) head.push_back(Subject{SubjectKind::kUser, std::move(name)});
  for (size_t i = 0; i < subjects.size(); ++i) {
    if (!pair || i != pair_at) head.push_back(subjects[i]);
  }
  for (;;) {
    if (!Lock(head, create, write, held, err)) return false;
    if (!pair) break;
    const bool remembered = IsRemembered(
        held->files[held->index[0]].rec.remembered, host, AfterWaits(now));
    Held& h = held->files.emplace_back();
    const Subject& p = subjects[pair_at];
    bool busy = false;
    if (!remembered && exempt_pair == ExemptPair::kUnread) {
      if (!Read(&h, &p, &waits_, err)) return false;  // No file: empty.
    } else if (!LockLast(p, create.pairs, write, &h, &busy, err)) {
      if (!busy) return false;
      const std::string file = h.file;
      held->Clear();
      if (!WaitAlone(file, restarts, err)) return false;
      continue;
    }
    break;
  }
  now = AfterWaits(now);  // Once: no more waits, and the loop is done.
  *user = nullptr;
  if (pair) {
    const size_t user_file = held->index[0];
    *user = &held->files[user_file];
    // held->index[j] is head[j]'s: made subject i's again.
    std::vector<size_t> index;
    index.reserve(subjects.size());
    for (size_t i = 0, j = 1; i < subjects.size(); ++i) {
      index.push_back(i == pair_at ? held->files.size() - 1 : held->index[j++]);
    }
    held->index = std::move(index);
  }
  states->clear();
  states->reserve(subjects.size());
  for (size_t i = 0; i < subjects.size(); ++i) {
    states->push_back(StateOf(held->at(i).rec.state, now));
  }
  if (pair) {
    MarkExempt(subjects, IsRemembered((*user)->rec.remembered, host, now),
               states);
  }
  return true;
}

bool LocalStore::Get(std::span<const Subject> subjects, int64_t now,
                     std::vector<SubjectState>* out, std::string* err) {
  StartCall();
  HeldSet held;
  Held* user;
  int restarts = 0;
  return LockStates(subjects, Create{}, /*write=*/false, ExemptPair::kRead, now,
                    &held, out, &user, &restarts, err);
}

bool LocalStore::GetForDecision(std::span<const Subject> subjects, int64_t now,
                                std::vector<SubjectState>* out,
                                std::string* err) {
  StartCall();
  HeldSet held;
  Held* user;
  int restarts = 0;
  return LockStates(subjects, Create{}, /*write=*/false, ExemptPair::kUnread,
                    now, &held, out, &user, &restarts, err);
}

bool LocalStore::RecordFailure(std::span<const FailureRequest> requests,
                               RefusalRule rule, FailureMode mode,
                               const LockoutParams& params, int64_t now,
                               std::vector<FailureOutcome>* out, bool* refused,
                               std::string* err) {
  StartCall();
  out->clear();
  out->reserve(requests.size());
  std::vector<Subject> subjects;
  subjects.reserve(requests.size());
  for (const FailureRequest& req : requests) subjects.push_back(req.subject);
  // A pair's file is opened only when the pair counts (its host is
  // remembered, which is known once U's file is read, the pair's coming
  // last in the lock order), and created only when the attempt is counted:
  // a failure from anywhere else (an attack) opens, creates and unlinks no
  // pair file.
  HeldSet files;
  HeldSet* held = &files;
  Held* user;
  std::vector<SubjectState> states;
  const std::optional<size_t> pair = PairIndex(subjects);
  int restarts = 0;
  for (;;) {
    if (!LockStates(subjects, Create{true, true, false}, /*write=*/true,
                    ExemptPair::kUnread, now, held, &states, &user, &restarts,
                    err)) {
      return false;
    }
    if (!pair || held->at(*pair).fd >= 0 || states[*pair].exempt ||
        IsRefused(rule, states)) {
      break;
    }
    // Made now, or meanwhile by another step (then read as it is).
    Held& h = held->at(*pair);
    bool busy;
    if (LockLast(subjects[*pair], /*create=*/true, /*write=*/true, &h, &busy,
                 err)) {
      states[*pair] = StateOf(h.rec.state, AfterWaits(now));
      break;
    }
    if (!busy) return false;
    const std::string file = h.file;
    held->Clear();
    if (!WaitAlone(file, &restarts, err)) return false;
  }
  now = AfterWaits(now);  // As LockStates did: the time the locks were got.
  *refused = IsRefused(rule, states);
  const int64_t since = now - params.history_seconds;
  for (size_t i = 0; i < requests.size(); ++i) {
    Held& h = held->at(i);
    const SubjectState& current = states[i];
    FailureOutcome outcome{current, false};
    const bool exempt_pair =
        current.exempt && subjects[i].kind == SubjectKind::kPair;
    if (!*refused && !current.blocked && !exempt_pair) {
      std::optional<StoredRecord> next = ApplyFailure(
          h.rec.state, requests[i], mode, params, h.rec.BlocksSince(since), now,
          &outcome.newly_blocked, &outcome.counted);
      if (next) {
        h.rec.state = next;
        if (outcome.newly_blocked) h.rec.AddBlock(now);
        h.dirty = true;
        outcome.state = StateOf(next, now);
        outcome.state.exempt = current.exempt;
      }
    }
    out->push_back(outcome);
  }
  // Every file is written even when one cannot be: on a full file system
  // a new subject's file gets no block, but the user's existing record is
  // rewritten in place, and an attacker who moves to a new address (a new
  // host file) must still be counted on the user.
  bool ok = true;
  for (Held& h : held->files) {
    std::string e;
    if (Finish(&h, now, since, /*remove_empty=*/false, &e)) continue;
    if (ok) *err = std::move(e);
    ok = false;
    // A block or count whose record could not be written did not happen;
    // the others did, and are reported with the error (store.h).
    for (size_t i = 0; i < requests.size(); ++i) {
      if (&held->at(i) == &h) {
        (*out)[i].newly_blocked = false;
        (*out)[i].counted = 0;
      }
    }
  }
  return ok;
}

bool LocalStore::RecordSuccess(std::span<const Subject> subjects,
                               std::span<const bool> reset,
                               std::span<const Generation> take_back,
                               RefusalRule rule, int64_t remember_seconds,
                               int64_t now, std::vector<SubjectState>* before,
                               bool* refused, std::string* err) {
  StartCall();
  // A subject with no file has nothing to reset: the common success step
  // creates and unlinks nothing (that would cost more than the rest of the
  // step), except the user's file when it remembers a host. The files that
  // exist are locked; one that was absent and exists once they are (a
  // failure created it meanwhile) makes the step start again, creating
  // every file, so that all states are read under locks. The pair's file
  // is opened under U's lock and not checked again: a login step creates
  // it only under U's lock, and one created otherwise meanwhile (an
  // administrator's Block of the pair, which takes no other lock, or an
  // older version's failure) comes after this success.
  const bool remember = remember_seconds > 0 && PairIndex(subjects);
  HeldSet first, created;
  HeldSet* held = &first;
  Held* user;
  int restarts = 0;
  if (!LockStates(subjects, Create{remember, false, false},
                  /*write=*/true, ExemptPair::kRead, now, held, before, &user,
                  &restarts, err)) {
    return false;
  }
  const Held* pair = user ? &held->at(*PairIndex(subjects)) : nullptr;
  for (const Held& h : held->files) {
    struct stat st;
    if (h.fd < 0 && &h != pair &&
        StatWithoutTimes(subjects_fd(), h.file.c_str(), AT_SYMLINK_NOFOLLOW,
                         &st) == 0) {
      first.Release();
      held = &created;
      if (!LockStates(subjects, Create::All(), /*write=*/true,
                      ExemptPair::kRead, now, held, before, &user, &restarts,
                      err)) {
        return false;
      }
      break;
    }
  }
  now = AfterWaits(now);  // As LockStates did: the time the locks were got.
  *refused = IsRefused(rule, *before);
  for (size_t i = 0; i < subjects.size() && !*refused; ++i) {
    Held& h = held->at(i);
    if (h.rec.state && SuccessResets(subjects[i], (*before)[i], reset[i])) {
      h.rec.state.reset();
      h.dirty = true;
    } else if (!take_back.empty() &&
               TakeBack(&h.rec.state, take_back[i], now)) {
      h.dirty = true;
    }
  }
  std::string name;
  std::string host;
  if (!*refused && remember && PairOf(subjects, &name, &host)) {
    // Unchanged (remembered already until this time): no write.
    if (RememberHost(&user->rec.remembered, host,
                     RememberUntil(now, remember_seconds), now)) {
      user->dirty = true;
    }
  }
  for (Held& h : held->files) {
    if (!Finish(&h, now, kKeepHistory, /*remove_empty=*/false, err)) {
      return false;
    }
  }
  return true;
}

bool LocalStore::Block(const Subject& subject, int64_t until, int64_t now,
                       std::string* err) {
  StartCall();
  HeldSet held;
  if (!Lock({&subject, 1}, Create::All(), /*write=*/true, &held, err)) {
    return false;
  }
  now = AfterWaits(now);
  Held& h = held.at(0);
  h.rec.state =
      StoredRecord{StateOf(h.rec.state, now).failures, /*blocked=*/true, until};
  h.rec.AddBlock(now);
  h.dirty = true;
  return Finish(&h, now, kKeepHistory, /*remove_empty=*/false, err);
}

bool LocalStore::Unblock(const Subject& subject, int64_t now, bool* was_blocked,
                         std::string* err) {
  StartCall();
  HeldSet held;
  if (!Lock({&subject, 1}, Create{}, /*write=*/true, &held, err)) {
    return false;
  }
  now = AfterWaits(now);
  Held& h = held.at(0);
  *was_blocked = StateOf(h.rec.state, now).blocked;
  h.dirty = h.rec.state.has_value();
  h.rec.state.reset();
  return Finish(&h, now, kKeepHistory, /*remove_empty=*/true, err);
}

bool LocalStore::ForEach(const Visit& visit, std::string* err, int readers) {
  const int fd = openat(subjects_fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = fd < 0 ? nullptr : lazy::fdopendir(fd);
  if (d == nullptr) {
    *err = ErrnoMessage(dir() + "/" + kSubjectsDir, "cannot read directory");
    if (fd >= 0) close(fd);
    return false;
  }
  struct DirCloser {
    DIR* d;
    ~DirCloser() { lazy::closedir(d); }
  } closer{d};
  // The directory, the visits, the key and the outcome are shared under
  // `mu`; each reader opens, checks, reads and decodes its files alone, a
  // batch of names at a time (one lock taken per batch, not per file).
  // Each record name has its position in the directory: the error
  // reported is the one at the lowest position, as when one reader reads
  // them all in order, and every file before it is visited (a later batch
  // may have been visited before the failure was found).
  constexpr uint64_t kNone = UINT64_MAX;
  Mutex mu;
  bool at_end = false;          // The directory is read to its end.
  bool stopped = false;         // A visit returned false (*err set) or threw.
  uint64_t stopped_at = kNone;  // The position of the visit's false.
  uint64_t taken = 0;           // Record names taken from the directory.
  std::atomic<uint64_t> failed_at{kNone};  // Lowest unreadable position.
  std::string failure;                     // Its message.
  const auto fail = [&](uint64_t at, std::string&& e) {
    MutexLock lock(&mu);
    if (at < failed_at.load()) {
      failed_at = at;
      failure = std::move(e);
    }
  };
  struct Read {
    std::string file;
    ParsedFileName parsed;
    SubjectRecord rec;
    uint64_t at = 0;
    bool valid = false;
  };
  const auto read = [&] {
    RecordBytes bytes;
    std::vector<Read> batch(readers > 1 ? kForEachBatch : 1);
    std::string e;
    for (;;) {
      size_t n = 0;
      {
        MutexLock lock(&mu);
        // No batch is taken after a failure: its names would all come
        // after the failed one.
        while (!stopped && failed_at.load() == kNone && !at_end &&
               n < batch.size()) {
          errno = 0;
          const dirent* entry = lazy::readdir(d);
          if (entry == nullptr) {
            if (errno != 0) {
              failed_at = taken;
              failure = ErrnoMessage(dir() + "/" + kSubjectsDir,
                                     "cannot read directory");
            }
            at_end = true;
            break;
          }
          Read& r = batch[n];
          r.file = entry->d_name;
          if (ParseRecordFileName(r.file, &r.parsed)) {  // Not .key.
            r.at = taken++;
            ++n;
          }
        }
        if (n == 0) return;
      }
      size_t read = 0;
      bool failed = false;
      for (size_t i = 0; i < n && batch[i].at < failed_at.load(); ++i) {
        Read& r = batch[i];
        const LazyPath path = PathOf(r.file);
        const int rfd = OpenRecordFile(
            subjects_fd(), r.file.c_str(),
            O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (rfd < 0) {
          if (errno == ENOENT) continue;  // Unlinked meanwhile.
          fail(r.at, OpenError(path.str()));
          failed = true;
          break;
        }
        struct stat st;
        const bool read_ok =
            CheckRecordFile(rfd, path, store_dir_->euid(), &st, &e) &&
            ReadFile(rfd, path, &bytes, &e);
        close(rfd);
        if (!read_ok) {
          fail(r.at, std::move(e));
          failed = true;
          break;
        }
        // Lock-free: one of the two slots is always whole
        // (subject_record.h).
        int slot;
        r.valid = DecodeRecordFile(bytes.span(), &r.rec, &slot) &&
                  r.rec.kind == r.parsed.kind;
        if (read != i) std::swap(batch[read], r);
        ++read;
      }
      MutexLock lock(&mu);
      for (size_t i = 0; i < read && !stopped; ++i) {
        const Read& r = batch[i];
        if (r.at >= failed_at.load()) break;
        bool mine = r.valid && !r.parsed.hashed && r.rec.name == r.parsed.name;
        if (r.valid && r.parsed.hashed && NeedsHashedName(r.rec.name)) {
          std::string ignored;
          mine = LoadKey(/*create=*/false, &ignored) && key_ &&
                 RecordFileName(r.rec.kind, r.rec.name, *key_) == r.file;
        }
        if (!visit(r.file, mine ? &r.rec : nullptr, err)) {
          stopped = true;
          stopped_at = r.at;
        }
      }
      if (stopped || failed) return;
    }
  };
  // A visit that throws stops the other readers too (RunParallel rethrows
  // the exception once they have returned).
  RunParallel(readers, [&] {
    try {
      read();
    } catch (...) {
      MutexLock lock(&mu);
      stopped = true;
      throw;
    }
  });
  // An unreadable file before the visit that said stop is the error, as
  // one reader would have met it first.
  if (stopped && stopped_at < failed_at.load()) return false;
  if (failed_at.load() != kNone) {
    *err = std::move(failure);
    return false;
  }
  return true;
}

bool LocalStore::Update(
    const std::string& file, int64_t now, int64_t history_since,
    bool remove_empty, int timeout_ms,
    const std::function<bool(SubjectRecord*, int64_t now)>& change,
    std::string* err, bool* timed_out,
    std::chrono::steady_clock::duration* waited) {
  HeldSet held;
  held.files.resize(1);
  held.index.push_back(0);
  Held& h = held.files[0];
  h.file = file;
  WaitBudget waits(timeout_ms);
  struct AddWaits {
    const WaitBudget& waits;
    std::chrono::steady_clock::duration* total;
    ~AddWaits() {
      if (total != nullptr) *total += waits.waited();
    }
  } add_waits{waits, waited};
  if (!OpenLocked(file, /*create=*/false, /*write=*/true, &waits, &h.fd, err,
                  timed_out)) {
    return false;
  }
  h.locked = true;
  if (!Read(&h, nullptr, &waits, err)) return false;
  now = MovedOnBy(now, waits.waited());
  // Another subject's record under this name reads as garbage: gone.
  ParsedFileName parsed;
  if (h.slot >= 0 &&
      (!ParseRecordFileName(file, &parsed) || parsed.kind != h.rec.kind ||
       (!parsed.hashed && parsed.name != h.rec.name))) {
    h.rec = SubjectRecord{};
  }
  h.dirty = h.slot >= 0 && change(&h.rec, now);
  return Finish(&h, now, history_since, remove_empty, err);
}

bool LocalStore::UnblockAll(int64_t now, std::vector<Subject>* cleared,
                            std::string* err) {
  cleared->clear();
  // A file whose lock does not come (its holder is stopped) does not stop
  // the others: the call fails at the end, naming the first one.
  std::string stuck;
  int64_t stuck_count = 0;
  // The walk's time moves on by the seconds its lock waits have lasted: a
  // block that ended meanwhile is not cleared, nor announced.
  std::chrono::steady_clock::duration waited{};
  const auto at = [&] { return MovedOnBy(now, waited); };
  const bool ok = ForEach(
      [&](const std::string& file, const SubjectRecord* rec, std::string* e) {
        if (!rec || !StateOf(rec->state, at()).blocked) return true;
        bool timed_out = false;
        // Listed once the record is written: one that could not be (a
        // full disk) is still blocked, and is not announced as unblocked.
        std::optional<Subject> unblocked;
        const bool done = Update(
            file, at(), kKeepHistory, /*remove_empty=*/true, lock_timeout_ms_,
            [&](SubjectRecord* r, int64_t locked_at) {
              if (!StateOf(r->state, locked_at).blocked) return false;
              unblocked = Subject{r->kind, r->name};
              r->state.reset();
              return true;
            },
            e, &timed_out, &waited);
        if (done && unblocked) cleared->push_back(std::move(*unblocked));
        if (done || !timed_out) return done;
        if (stuck_count++ == 0) stuck = *e;
        e->clear();
        return true;
      },
      err);
  std::sort(cleared->begin(), cleared->end(), SubjectOrder);
  if (ok && stuck_count > 0) {
    *err = stuck + " (" + std::to_string(stuck_count) +
           " blocked subject(s) not unblocked)";
    return false;
  }
  return ok;
}

bool LocalStore::List(int64_t now, bool blocked_only,
                      std::vector<StoreEntry>* out, std::string* err) {
  out->clear();
  const bool ok = ForEach(
      [&](const std::string&, const SubjectRecord* rec, std::string*) {
        if (!rec || !rec->state || !IsLive(*rec->state, now)) return true;
        const SubjectState state = StateOf(rec->state, now);
        if (!blocked_only || state.blocked) {
          out->push_back(StoreEntry{Subject{rec->kind, rec->name}, state});
        }
        return true;
      },
      err, kListReaders);
  std::sort(out->begin(), out->end(),
            [](const StoreEntry& a, const StoreEntry& b) {
              return SubjectOrder(a.subject, b.subject);
            });
  return ok;
}

bool LocalStore::Stats(int64_t now, int64_t history_seconds, StoreStats* out,
                       std::string* err) {
  *out = StoreStats{};
  std::vector<StoreEntry> live;
  if (!ForEach(
          [&](const std::string&, const SubjectRecord* rec, std::string*) {
            if (!rec) return true;
            out->blocks_in_window += rec->BlocksSince(now - history_seconds);
            if (rec->state && IsLive(*rec->state, now)) {
              live.push_back(StoreEntry{Subject{rec->kind, rec->name},
                                        StateOf(rec->state, now)});
            }
            return true;
          },
          err, kListReaders)) {
    return false;
  }
  CountEntries(live, out);
  return true;
}

bool LocalStore::ListRemembered(int64_t now, std::vector<RememberedEntry>* out,
                                std::string* err) {
  out->clear();
  const bool ok = ForEach(
      [&](const std::string&, const SubjectRecord* rec, std::string*) {
        if (!rec || rec->kind != SubjectKind::kUser) return true;
        for (const RememberedHost& r : rec->remembered) {
          if (r.until > now) {
            out->push_back(RememberedEntry{rec->name, r.host, r.until});
          }
        }
        return true;
      },
      err, kListReaders);
  std::sort(out->begin(), out->end(),
            [](const RememberedEntry& a, const RememberedEntry& b) {
              return a.user != b.user ? a.user < b.user : a.host < b.host;
            });
  return ok;
}

bool LocalStore::Forget(const std::string& user,
                        const std::optional<std::string>& host, int64_t now,
                        int64_t* removed, std::string* err) {
  StartCall();
  *removed = 0;
  const Subject subject{SubjectKind::kUser, user};
  HeldSet held;
  if (!Lock({&subject, 1}, Create{}, /*write=*/true, &held, err)) {
    return false;
  }
  now = AfterWaits(now);
  Held& h = held.at(0);
  const int64_t expired =
      DropRemembered(&h.rec.remembered, now, /*forget=*/false, std::nullopt);
  *removed = DropRemembered(&h.rec.remembered, now, /*forget=*/true, host);
  h.dirty = expired + *removed > 0;
  return Finish(&h, now, kKeepHistory, /*remove_empty=*/true, err);
}

bool LocalStore::Prune(int64_t now, int64_t history_seconds, int64_t* removed,
                       std::string* err) {
  *removed = 0;
  const int64_t since = now - history_seconds;
  return ForEach(
      [&](const std::string& file, const SubjectRecord* rec, std::string* e) {
        if (rec) {
          SubjectRecord copy = *rec;
          // Nothing to drop, and something left: the file stays.
          if (copy.Trim(now, since) == 0 && !copy.Empty(now, since)) {
            return true;
          }
        }
        // Garbage, a record with something to drop or nothing left (or one
        // changing right now) is looked at under the lock: garbage or
        // empty, the file goes.
        // A file locked right now is in use: left for the next Prune
        // (waiting for it would let one stopped holder stop the whole
        // cleanup).
        bool timed_out = false;
        const bool done = Update(
            file, now, since, /*remove_empty=*/true, /*timeout_ms=*/0,
            [&](SubjectRecord* r, int64_t) {
              const int64_t n = r->Trim(now, since);
              *removed += n;
              return n > 0;
            },
            e, &timed_out);
        if (done || !timed_out) return done;
        e->clear();
        return true;
      },
      err);
}

}  // namespace defender
