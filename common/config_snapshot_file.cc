#include "common/config_snapshot_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "common/lazy_libc.h"

namespace defender {
namespace {

constexpr char kSubdir[] = "/config";
constexpr char kUntrustedDir[] =
    ": untrusted (must be owned by root and not writable by group or "
    "others)";

std::string HashName(const std::string& conf_path) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a.
  for (char c : conf_path) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  char buf[17];
  snprintf(buf, sizeof buf, "%016" PRIx64, h);
  return buf;
}

// Owned by root or the effective uid, not writable by group or others.
bool Trusted(const struct stat& st) {
  return (st.st_uid == 0 || st.st_uid == geteuid()) &&
         (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens <statedir>/config if it is a trusted directory; -1 with errno (or
// EPERM with *err set when it is untrusted).
int OpenDir(const std::string& statedir, std::string* err) {
  const std::string dir = statedir + kSubdir;
  const int fd =
      open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    *err = dir + ": " + lazy::strerror(errno);
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !Trusted(st)) {
    close(fd);
    *err = dir + kUntrustedDir;
    errno = EPERM;
    return -1;
  }
  return fd;
}

bool WriteAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string ConfigSnapshotPath(const std::string& statedir,
                               const std::string& conf_path) {
  return statedir + kSubdir + "/" + HashName(conf_path) + ".snapshot";
}

SnapshotRead ReadConfigSnapshot(const std::string& statedir,
                                const std::string& conf_path,
                                ConfigSnapshot* out, std::string* err) {
  // lstat, not open: this runs in every module step. Only root can replace
  // a trusted directory between this check and the open.
  const std::string dir = statedir + kSubdir;
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) {
    *err = dir + ": " + lazy::strerror(errno);
    return errno == ENOENT ? SnapshotRead::kAbsent : SnapshotRead::kBad;
  }
  if (!S_ISDIR(st.st_mode) || !Trusted(st)) {
    *err = dir + kUntrustedDir;
    return SnapshotRead::kBad;
  }
  const std::string shown = ConfigSnapshotPath(statedir, conf_path);
  const Fd fd(
      open(shown.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT) return SnapshotRead::kAbsent;
    *err = shown + ": " + lazy::strerror(errno);
    return SnapshotRead::kBad;
  }
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || !Trusted(st)) {
    *err = shown +
           ": untrusted (must be a regular file owned by root and not "
           "writable by group or others)";
    return SnapshotRead::kBad;
  }
  if (st.st_size > static_cast<off_t>(kMaxConfigSnapshotSize)) {
    *err = shown + ": too large";
    return SnapshotRead::kBad;
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = read(fd.get(), bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  bytes.resize(got);
  if (!DecodeConfigSnapshot(bytes, out, err)) {
    *err = shown + ": " + *err;
    return SnapshotRead::kBad;
  }
  if (out->conf_path != conf_path) {
    *err = shown + ": made for another file";
    return SnapshotRead::kBad;
  }
  return SnapshotRead::kOk;
}

bool WriteConfigSnapshot(const std::string& statedir,
                         const ConfigSnapshot& snapshot, std::string* err) {
  const std::string dir_path = statedir + kSubdir;
  if ((lazy::mkdir(statedir.c_str(), 0700) != 0 && errno != EEXIST) ||
      (lazy::mkdir(dir_path.c_str(), 0700) != 0 && errno != EEXIST)) {
    *err = dir_path + ": cannot create: " + lazy::strerror(errno);
    return false;
  }
  const Fd dir(OpenDir(statedir, err));
  if (dir.get() < 0) return false;
  const std::string name = HashName(snapshot.conf_path) + ".snapshot";
  const std::string tmp = name + "." + std::to_string(lazy::getpid()) + ".tmp";
  unlinkat(dir.get(), tmp.c_str(), 0);  // Left by a killed process.
  const int fd =
      openat(dir.get(), tmp.c_str(),
             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    *err = dir_path + "/" + tmp + ": " + lazy::strerror(errno);
    return false;
  }
  const bool ok = lazy::fchmod(fd, 0600) == 0 &&
                  WriteAll(fd, EncodeConfigSnapshot(snapshot)) &&
                  lazy::fsync(fd) == 0;
  const int saved = errno;
  close(fd);
  if (!ok ||
      lazy::renameat(dir.get(), tmp.c_str(), dir.get(), name.c_str()) != 0) {
    *err = dir_path + "/" + name +
           ": cannot write: " + lazy::strerror(ok ? errno : saved);
    unlinkat(dir.get(), tmp.c_str(), 0);
    return false;
  }
  return true;
}

bool ClaimConfigErrorLog(const std::string& statedir,
                         const std::string& conf_path, int64_t now,
                         int64_t interval) {
  std::string err;
  const Fd dir(OpenDir(statedir, &err));
  if (dir.get() < 0) return true;
  const std::string name = HashName(conf_path) + ".logged";
  const Fd fd(openat(dir.get(), name.c_str(),
                     O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                     0600));
  struct stat st;
  if (fd.get() < 0 || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      !Trusted(st) || flock(fd.get(), LOCK_EX) != 0) {
    return true;
  }
  char buf[32] = {};
  const ssize_t n = pread(fd.get(), buf, sizeof buf - 1, 0);
  if (n > 0) {
    long long last = 0;
    const auto [end, ec] = std::from_chars(buf, buf + n, last);
    if (ec == std::errc() && now >= last && now - last < interval) return false;
  }
  const std::string text = std::to_string(now) + "\n";
  if (lazy::ftruncate(fd.get(), 0) == 0) {
    (void)!pwrite(fd.get(), text.data(), text.size(), 0);
  }
  return true;  // The lock is released when the descriptor is closed.
}

}  // namespace defender
