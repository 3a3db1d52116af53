#include "common/archive.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "common/backend.h"
#include "common/error.h"
#include "common/journal.h"
#include "common/journal_record.h"
#include "common/lock_wait.h"
#include "common/trusted_file.h"

namespace defender {
namespace {

// The files an ingest has claimed: kJournalName + "." + 16 hex digits of
// the time in nanoseconds + "-" + 8 random hex digits, so that names sort
// by age and never repeat.
constexpr size_t kSuffixChars = 16 + 1 + 8;

// Appended to a claimed file's name when it is set aside: the name is then
// too long to be claimed.
constexpr char kSetAsideSuffix[] = ".bad";

// How many times an ingest that has waited for a file's lock in vain asks
// who holds it (IngestFile).
constexpr int kBusyProbes = 3;

bool IsClaimedName(const std::string& name) {
  const std::string prefix = std::string(kJournalName) + ".";
  if (name.size() != prefix.size() + kSuffixChars ||
      name.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  return std::all_of(name.begin() + prefix.size(), name.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
  });
}

std::string NewClaimedName() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  uint32_t random = 0;
  if (getrandom(&random, sizeof random, GRND_NONBLOCK) != sizeof random) {
    random =
        static_cast<uint32_t>(getpid()) ^ static_cast<uint32_t>(ts.tv_nsec);
  }
  char suffix[kSuffixChars + 1];
  snprintf(suffix, sizeof suffix, "%016llx-%08x",
           static_cast<unsigned long long>(ts.tv_sec) * 1'000'000'000ULL +
               static_cast<unsigned long long>(ts.tv_nsec),
           random);
  return std::string(kJournalName) + "." + suffix;
}

// A descriptor closed on scope exit.
struct Fd {
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int fd;
};

// The whole file behind `fd`.
bool ReadAll(int fd, const std::string& path, std::string* data,
             std::string* err) {
  data->clear();
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *err = ErrnoMessage(path, "cannot read");
      return false;
    }
    if (n == 0) return true;
    data->append(buf, static_cast<size_t>(n));
  }
}

// The claimed journals in the directory, oldest first.
bool ListClaimed(int dir_fd, const std::string& dir,
                 std::vector<std::string>* names, std::string* err) {
  const int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = fd >= 0 ? fdopendir(fd) : nullptr;
  if (d == nullptr) {
    *err = ErrnoMessage(dir, "cannot list");
    if (fd >= 0) close(fd);
    return false;
  }
  while (const dirent* e = readdir(d)) {
    if (IsClaimedName(e->d_name)) names->push_back(e->d_name);
  }
  closedir(d);
  std::sort(names->begin(), names->end());
  return true;
}

bool Ingested(SqliteDb* db, const std::string& name, bool* found,
              std::string* err) {
  SqliteDb::Statement st(db, "SELECT 1 FROM ingested WHERE name = ?1");
  st.Bind(1, name);
  *found = st.Step();
  if (st.error()) *err = db->Error("cannot read the ingested journals");
  return !st.error();
}

void Forget(SqliteDb* db, const std::string& name) {
  SqliteDb::Statement st(db, "DELETE FROM ingested WHERE name = ?1");
  st.Bind(1, name);
  st.Step();
}

}  // namespace

AttemptArchive::AttemptArchive(std::string dir, std::unique_ptr<SqliteDb> db,
                               int64_t max_rows)
    : dir_(std::move(dir)),
      db_(std::move(db)),
      max_rows_(max_rows),
      log_(db_.get(), max_rows) {}

std::unique_ptr<AttemptArchive> AttemptArchive::Open(const std::string& dir,
                                                     int64_t max_rows,
                                                     std::string* err) {
  std::unique_ptr<SqliteDb> db =
      SqliteDb::Open(dir + "/" + kArchiveName, kSqliteBusyTimeoutMs, err);
  if (!db) return nullptr;
  // The journal files whose records are committed: a crash between the
  // commit and the unlink must not ingest one twice.
  if (!db->Exec("CREATE TABLE IF NOT EXISTS ingested("
                "name TEXT PRIMARY KEY, time INTEGER NOT NULL, "
                "records INTEGER NOT NULL) WITHOUT ROWID",
                err)) {
    return nullptr;
  }
  // An ingest unlinks a journal file once its records are committed: the
  // commit must be on the disk first (synchronous=FULL syncs the WAL at
  // each commit), or a power loss soon after could lose records that had
  // been safe in the journal for a day.
  if (!db->Exec("PRAGMA synchronous=FULL", err)) return nullptr;
  return std::unique_ptr<AttemptArchive>(
      new AttemptArchive(dir, std::move(db), max_rows));
}

bool AttemptArchive::Ingest(IngestResult* out, std::string* err, bool trim) {
  *out = IngestResult{};
  const Fd dir_fd(open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.fd < 0) {
    *err = ErrnoMessage(dir_, "cannot open");
    return false;
  }
  if (!CheckTrusted(dir_fd.fd, dir_, /*dir=*/true, err)) return false;
  std::vector<std::string> names;
  if (!ListClaimed(dir_fd.fd, dir_, &names, err)) return false;
  const std::string claimed = NewClaimedName();
  if (renameat(dir_fd.fd, kJournalName, dir_fd.fd, claimed.c_str()) == 0) {
    names.push_back(claimed);  // The newest.
  } else if (errno != ENOENT) {
    *err = ErrnoMessage(dir_ + "/" + kJournalName, "cannot rename");
    return false;
  }
  for (const std::string& name : names) {
    const int wait_ms = name == claimed ? kIngestLockWaitMs : 0;
    if (!IngestFile(dir_fd.fd, name, wait_ms, out, err)) return false;
  }
  // Rows of files whose unlink was done but not yet noted.
  {
    std::vector<std::string> stale;
    SqliteDb::Statement st(db_.get(), "SELECT name FROM ingested");
    while (st.Step()) {
      const std::string name = st.Text(0);
      struct stat s;
      if (fstatat(dir_fd.fd, name.c_str(), &s, AT_SYMLINK_NOFOLLOW) != 0 &&
          errno == ENOENT) {
        stale.push_back(name);
      }
    }
    for (const std::string& name : stale) Forget(db_.get(), name);
  }
  if (out->records == 0 || !trim) return true;
  return log_.Trim(INT64_MIN, /*dry_run=*/false, &out->trimmed, err);
}

void AttemptArchive::SetAside(int dir_fd, const std::string& name,
                              std::string reason, IngestResult* out) {
  // renameat renames the name: a symlink is moved, not what it leads to.
  // RENAME_NOREPLACE: a file already under the new name is kept.
  const std::string bad = name + kSetAsideSuffix;
  int rc =
      renameat2(dir_fd, name.c_str(), dir_fd, bad.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && errno == EINVAL) {  // A file system without the flag.
    struct stat st;
    if (fstatat(dir_fd, bad.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      errno = EEXIST;
    } else if (errno == ENOENT) {
      rc = renameat(dir_fd, name.c_str(), dir_fd, bad.c_str());
    }
  }
  const int e = errno;
  if (rc != 0 && e == ENOENT) return;  // Another ingest set it aside.
  SetAsideFile f{dir_ + "/" + name, "", std::move(reason)};
  if (rc == 0) {
    f.moved_to = dir_ + "/" + bad;
  } else {
    f.reason +=
        "; cannot set it aside as " + dir_ + "/" + bad + ": " + strerror(e);
  }
  out->set_aside.push_back(std::move(f));
}

bool AttemptArchive::IngestFile(int dir_fd, const std::string& name,
                                int wait_ms, IngestResult* out,
                                std::string* err) {
  const std::string path = dir_ + "/" + name;
  // First the name itself, O_PATH: this opens nothing behind it (a FIFO or
  // a device is not opened, a symlink not followed), so the check sees what
  // the name is.
  struct stat named;
  {
    const Fd name_fd(
        openat(dir_fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (name_fd.fd < 0) {
      if (errno == ENOENT) return true;  // Another ingest finished it.
      *err = ErrnoMessage(path, "cannot open");
      return false;
    }
    std::string why;
    if (!CheckTrusted(name_fd.fd, path, /*dir=*/false, geteuid(), &named,
                      &why)) {
      SetAside(dir_fd, name, std::move(why), out);
      return true;
    }
  }
  // A regular file: now opened for reading. The directory is trusted, so
  // only its owner could swap the name in between; the descriptor is
  // checked again all the same.
  const Fd fd(
      openat(dir_fd, name.c_str(),
             O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK));
  if (fd.fd < 0) {
    if (errno == ENOENT) return true;  // Another ingest finished it.
    const int e = errno;
    if (e == EMFILE || e == ENFILE || e == ENOMEM || e == EINTR) {
      *err = ErrnoMessage(path, "cannot open");  // This process's trouble.
      return false;
    }
    SetAside(dir_fd, name, ErrnoMessage(path, "cannot open"), out);
    return true;
  }
  {
    struct stat opened;
    std::string why;
    if (!CheckTrusted(fd.fd, path, /*dir=*/false, geteuid(), &opened, &why)) {
      SetAside(dir_fd, name, std::move(why), out);
      return true;
    }
  }
  // Appends under way hold LOCK_SH; later ones find the name gone and
  // write to a new journal. Another ingest of this file holds LOCK_EX
  // until it has unlinked it.
  if (!WaitFlock(fd.fd, LOCK_EX, wait_ms)) {
    if (errno != ETIMEDOUT) {
      *err = ErrnoMessage(path, "cannot lock");
      return false;
    }
    // Who holds it: appends take LOCK_SH, only ingests LOCK_EX. A shared
    // lock refused means another ingest has the file: it finishes it (or,
    // should it fail, a later ingest does), and it is not counted. Granted,
    // the file is either free now (its holder just let go: take it) or
    // held shared: by appends, or by another ingest probing as this one
    // does (hence a few tries).
    for (int tries = 1;; ++tries) {
      if (!FlockNoWait(fd.fd, LOCK_SH)) {
        if (errno == EWOULDBLOCK) return true;  // Another ingest's.
        *err = ErrnoMessage(path, "cannot lock");
        return false;
      }
      struct stat now;
      if (fstat(fd.fd, &now) == 0 && now.st_nlink == 0) return true;
      // A conversion that fails may leave no lock (flock(2)): the next
      // try takes LOCK_SH again.
      if (FlockNoWait(fd.fd, LOCK_EX)) break;
      if (errno != EWOULDBLOCK) {
        *err = ErrnoMessage(path, "cannot lock");
        return false;
      }
      if (tries == kBusyProbes) {
        flock(fd.fd, LOCK_UN);
        ++out->busy;  // Claimed already: the next ingest takes it.
        return true;
      }
    }
  }
  struct stat st;
  if (fstat(fd.fd, &st) != 0) {
    *err = ErrnoMessage(path, "cannot stat");
    return false;
  }
  if (st.st_nlink == 0) return true;  // Ingested and unlinked meanwhile.
  bool done = false;
  if (!Ingested(db_.get(), name, &done, err)) return false;
  if (!done) {
    std::string data;
    if (!ReadAll(fd.fd, path, &data, err)) return false;
    // The oldest records beyond max_rows would be trimmed at once.
    int64_t skip = 0;
    if (max_rows_ > 0 && data.size() / (kRecordOverhead + kMinPayload) >
                             static_cast<size_t>(max_rows_)) {
      const JournalScan count = ScanJournal(data, [](const Attempt&) {});
      skip = std::max<int64_t>(0, count.records - max_rows_);
    }
    SqliteDb::Transaction txn(db_.get());
    if (!txn.ok()) {
      *err = db_->Error("cannot lock the archive");
      return false;
    }
    int64_t seen = 0;
    int64_t inserted = 0;
    bool ok = true;
    const JournalScan scan = ScanJournal(data, [&](const Attempt& a) {
      if (seen++ < skip || !ok) return;
      ok = log_.Append(a, err);
      ++inserted;
    });
    if (!ok) return false;
    {
      SqliteDb::Statement note(db_.get(),
                               "INSERT INTO ingested(name, time, records) "
                               "VALUES (?1, ?2, ?3)");
      note.Bind(1, name);
      note.Bind(2, static_cast<int64_t>(time(nullptr)));
      note.Bind(3, inserted);
      note.Step();
      if (note.error()) {
        *err = db_->Error("cannot note the ingested journal");
        return false;
      }
    }
    if (!txn.Commit(err)) return false;
    ++out->files;
    out->records += inserted;
    out->dropped += skip;
    out->skipped_bytes += scan.skipped_bytes;
  }
  if (unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
    *err = ErrnoMessage(path, "cannot remove");
    return false;
  }
  Forget(db_.get(), name);
  return true;
}

}  // namespace defender
