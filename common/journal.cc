#include "common/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/journal_record.h"
#include "common/lock_wait.h"
#include "common/trusted_file.h"

namespace defender {
namespace {

// Times to reopen the journal after finding it renamed away (each time by
// another ingest that has just run) before giving up.
constexpr int kReopenTries = 8;

}  // namespace

std::string ParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "."
         : slash == 0               ? "/"
                                    : path.substr(0, slash);
}

JournalWriter::~JournalWriter() {
  Close();
  if (dir_fd_ >= 0 && !store_dir_) close(dir_fd_);
}

void JournalWriter::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool JournalWriter::Open(std::string* err) {
  if (dir_fd_ < 0) {
    Error e;
    dir_fd_ = OpenStateDir(dir(), &e);
    if (dir_fd_ < 0) {
      *err = std::move(e.message);
      return false;
    }
  }
  const LazyPath path(dir(), kJournalName, {});
  fd_ = openat(dir_fd_, kJournalName,
               O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
                   O_NOCTTY | O_NONBLOCK,
               0600);
  if (fd_ < 0) {
    *err = ErrnoMessage(path.str(), "cannot open");
    return false;
  }
  struct stat st;
  if (!CheckTrusted(fd_, path, /*dir=*/false,
                    store_dir_ ? store_dir_->euid() : geteuid(), &st, err)) {
    Close();
    return false;
  }
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  return true;
}

bool JournalWriter::LockCurrent(struct stat* st, std::string* err,
                                bool* failed) {
  *failed = false;
  if (!FlockNoWait(fd_, LOCK_SH)) {
    if (errno == EWOULDBLOCK) return false;  // The ingester has it.
    *err = ErrnoMessage(dir() + "/" + kJournalName, "cannot lock");
    *failed = true;
    return false;
  }
  // Renamed away or unlinked by an ingest: the name leads elsewhere or
  // nowhere.
  if (StatWithoutTimes(dir_fd_, kJournalName, AT_SYMLINK_NOFOLLOW, st) == 0 &&
      st->st_dev == dev_ && st->st_ino == ino_) {
    return true;
  }
  flock(fd_, LOCK_UN);
  return false;
}

bool JournalWriter::Append(const Attempt& a, std::string* err) {
  std::string record;
  if (!EncodeRecord(a, &record, err)) return false;
  const LazyPath path(dir(), kJournalName, {});
  struct stat st;
  for (int tries = 0;; ++tries) {
    if (tries == kReopenTries) {
      *err = path.str() + ": renamed away " + std::to_string(kReopenTries) +
             " times while appending";
      return false;
    }
    if (fd_ < 0 && !Open(err)) return false;
    bool failed = false;
    if (LockCurrent(&st, err, &failed)) break;
    Close();
    if (failed) return false;
  }
  bool ok = false;
  if (st.st_size + static_cast<int64_t>(record.size()) > max_bytes_) {
    *err = path.str() + ": journal full (" + std::to_string(max_bytes_) +
           " bytes): attempt dropped until defenderctl moves the journal "
           "into the archive (defenderctl cleanup)";
  } else {
    ssize_t n;
    while ((n = write(fd_, record.data(), record.size())) < 0 &&
           errno == EINTR) {
    }
    ok = n == static_cast<ssize_t>(record.size());
    if (n < 0) *err = ErrnoMessage(path.str(), "cannot append");
    if (n >= 0 && !ok) *err = path.str() + ": short write (disk full?)";
  }
  flock(fd_, LOCK_UN);
  return ok;
}

}  // namespace defender
