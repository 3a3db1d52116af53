#include "common/config_snapshot_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <initializer_list>
#include <string_view>

#include "common/config_build_tag.h"
#include "common/error.h"
#include "common/lazy_libc.h"
#include "common/lock_wait.h"

namespace defender {
namespace {

constexpr char kSubdir[] = "/config";
constexpr char kUntrustedDir[] =
    ": untrusted (must be owned by root and not writable by group or "
    "others)";

// The 16 hex digits of the FNV-1a hash of `conf_path` (and a NUL).
std::array<char, 17> HashName(const std::string& conf_path) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : conf_path) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  std::array<char, 17> out;
  constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i, h >>= 4) out[i] = kHex[h & 15];
  out[16] = '\0';
  return out;
}

// The name of the releases before build tags: "<hash>.snapshot".
constexpr std::string_view kUntaggedSnapshotSuffix = ".snapshot";
// Each build's format has its own file: a process that kept an older
// module loaded across an upgrade neither overwrites nor reads the new
// module's snapshot, and keeps its own as its last valid configuration.
constexpr std::string_view kSnapshotSuffix =
    "." DEFENDER_CONFIG_BUILD_TAG ".snapshot";
// Per build too: an older module kept loaded logs its own error once a
// minute without taking the turn of the current module's.
constexpr std::string_view kLoggedSuffix =
    "." DEFENDER_CONFIG_BUILD_TAG ".logged";

// The name in <statedir>/config of `conf_path`'s file with `suffix`,
// appended to *out.
void AppendFileName(const std::string& conf_path, std::string_view suffix,
                    std::string* out) {
  *out += HashName(conf_path).data();
  *out += suffix;
}

std::string FileName(const std::string& conf_path, std::string_view suffix) {
  std::string name;
  AppendFileName(conf_path, suffix, &name);
  return name;
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

// Removes the temporary files "<name>.<pid>.<tid>.tmp" (and the previous
// release's "<name>.<pid>.tmp") in `dir`, for each of `names`, that a
// writer killed between their creation and the rename left, whose process
// is gone (a later writer removes only its own thread's). A writer whose
// process is alive is left alone; a pid reused since by another process
// keeps its file until that process is gone too. One pass over `dir`. Best
// effort.
void RemoveDeadWritersFiles(int dir,
                            std::initializer_list<std::string_view> names) {
  const int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* d = fd < 0 ? nullptr : lazy::fdopendir(fd);
  if (d == nullptr) {
    if (fd >= 0) close(fd);
    return;
  }
  constexpr std::string_view kTmp = ".tmp";
  // A decimal id greater than 0 that fits a pid_t, all of `text`.
  const auto id = [](std::string_view text) -> pid_t {
    long n = 0;
    const auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), n);
    return ec != std::errc() || end != text.data() + text.size() || n <= 0 ||
                   static_cast<pid_t>(n) != n
               ? 0
               : static_cast<pid_t>(n);
  };
  while (const dirent* e = lazy::readdir(d)) {
    const std::string_view file = e->d_name;
    const auto of = [&](std::string_view prefix) {
      return file.size() > prefix.size() + 1 + kTmp.size() &&
             file.starts_with(prefix) && file[prefix.size()] == '.' &&
             file.ends_with(kTmp);
    };
    const auto prefix = std::find_if(names.begin(), names.end(), of);
    if (prefix == names.end()) continue;
    const std::string_view ids = file.substr(
        prefix->size() + 1, file.size() - prefix->size() - 1 - kTmp.size());
    const size_t dot = ids.find('.');
    const pid_t pid = id(ids.substr(0, dot));
    if (pid == 0 ||
        (dot != std::string_view::npos && id(ids.substr(dot + 1)) == 0)) {
      continue;
    }
    if (lazy::kill(pid, 0) != 0 && errno == ESRCH) {
      unlinkat(dir, e->d_name, 0);
    }
  }
  lazy::closedir(d);
}

// Reads and decodes the snapshot file `shown` (its directory already
// checked) for `conf_path` into *out; *st_out is the file's status.
SnapshotRead ReadSnapshotFile(const std::string& shown,
                              const std::string& conf_path, ConfigSnapshot* out,
                              std::string* err, struct stat* st_out) {
  struct stat& st = *st_out;
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
  // A snapshot is a few hundred bytes: read on the stack unless larger.
  char small[4096];
  std::string large;
  char* bytes = small;
  const size_t size = static_cast<size_t>(st.st_size);
  if (size > sizeof small) {
    large.resize(size);
    bytes = large.data();
  }
  size_t got = 0;
  while (got < size) {
    const ssize_t n = read(fd.get(), bytes + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (!DecodeConfigSnapshot(std::string_view(bytes, got), out, err)) {
    *err = shown + ": " + *err;
    return SnapshotRead::kBad;
  }
  if (out->conf_path != conf_path) {
    *err = shown + ": made for another file";
    return SnapshotRead::kBad;
  }
  return SnapshotRead::kOk;
}

}  // namespace

std::string ConfigSnapshotPath(const std::string& statedir,
                               const std::string& conf_path) {
  std::string path;
  path.reserve(statedir.size() + sizeof kSubdir + 16 + kSnapshotSuffix.size());
  path += statedir;
  path += kSubdir;
  path += '/';
  AppendFileName(conf_path, kSnapshotSuffix, &path);
  return path;
}

SnapshotRead ReadConfigSnapshot(const std::string& statedir,
                                const std::string& conf_path,
                                ConfigSnapshot* out, std::string* err) {
  // lstat, not open: this runs in every module step. Only root can replace
  // a trusted directory between this check and the open. The directory's
  // path is the file's, cut before its last '/' for the lstat.
  std::string shown = ConfigSnapshotPath(statedir, conf_path);
  const size_t dir_end = statedir.size() + sizeof kSubdir - 1;
  struct stat st;
  shown[dir_end] = '\0';
  const bool dir_ok = lstat(shown.c_str(), &st) == 0;
  const int dir_errno = errno;
  shown[dir_end] = '/';
  if (!dir_ok) {
    *err = shown.substr(0, dir_end) + ": " + lazy::strerror(dir_errno);
    return dir_errno == ENOENT ? SnapshotRead::kAbsent : SnapshotRead::kBad;
  }
  if (!S_ISDIR(st.st_mode) || !Trusted(st)) {
    *err = shown.substr(0, dir_end) + kUntrustedDir;
    return SnapshotRead::kBad;
  }
  return ReadSnapshotFile(shown, conf_path, out, err, &st);
}

SnapshotRead ReadOtherBuildsConfigSnapshot(const std::string& statedir,
                                           const std::string& conf_path,
                                           ConfigSnapshot* out,
                                           std::string* err) {
  std::string dir_err;
  const int dir_fd = OpenDir(statedir, &dir_err);
  DIR* d = dir_fd < 0 ? nullptr : lazy::fdopendir(dir_fd);
  if (d == nullptr) {
    if (dir_fd >= 0) close(dir_fd);
    *err = dir_err.empty() ? statedir + kSubdir + ": cannot read" : dir_err;
    return SnapshotRead::kAbsent;
  }
  const std::string dir_path = statedir + kSubdir + "/";
  const std::string hash = HashName(conf_path).data();
  const std::string own = FileName(conf_path, kSnapshotSuffix);
  // The newest of them by modification time, and only it: an older one
  // that decodes (the untagged file of a release long gone) is no last
  // valid configuration when a newer one does not.
  std::string newest_name;
  struct timespec newest = {};
  while (const dirent* e = lazy::readdir(d)) {
    const std::string_view name = e->d_name;
    // "<hash>.<16 hex digits>.snapshot", or the untagged "<hash>.snapshot"
    // of the releases before tags.
    if (name == own || !name.starts_with(hash) ||
        !name.ends_with(kUntaggedSnapshotSuffix)) {
      continue;
    }
    const std::string_view tag =
        name.substr(hash.size(),
                    name.size() - hash.size() - kUntaggedSnapshotSuffix.size());
    if (!tag.empty() && (tag.size() != 17 || tag[0] != '.' ||
                         tag.find_first_not_of("0123456789abcdef", 1) !=
                             std::string_view::npos)) {
      continue;
    }
    struct stat st;
    // lstat, not fstatat: an import the module has already.
    if (lstat((dir_path + e->d_name).c_str(), &st) != 0) continue;
    if (newest_name.empty() || st.st_mtim.tv_sec > newest.tv_sec ||
        (st.st_mtim.tv_sec == newest.tv_sec &&
         st.st_mtim.tv_nsec > newest.tv_nsec)) {
      newest_name = name;
      newest = st.st_mtim;
    }
  }
  lazy::closedir(d);
  if (newest_name.empty()) {
    *err = "no snapshot of " + conf_path + " in " + statedir + kSubdir;
    return SnapshotRead::kAbsent;
  }
  struct stat st;
  return ReadSnapshotFile(dir_path + newest_name, conf_path, out, err, &st);
}

bool WriteConfigSnapshot(const std::string& statedir,
                         const ConfigSnapshot& snapshot, std::string* err) {
  const std::string dir_path = statedir + kSubdir;
  if ((lazy::mkdir(statedir.c_str(), 0700) != 0 && errno != EEXIST) ||
      (lazy::mkdir(dir_path.c_str(), 0700) != 0 && errno != EEXIST)) {
    *err = ErrnoMessage(dir_path, "cannot create");
    return false;
  }
  const Fd dir(OpenDir(statedir, err));
  if (dir.get() < 0) return false;
  const std::string name = FileName(snapshot.conf_path, kSnapshotSuffix);
  // The process's id and the thread's: another thread of a threaded PAM
  // server writes a temporary file of its own.
  const std::string tmp = name + "." + std::to_string(lazy::getpid()) + "." +
                          std::to_string(lazy::gettid()) + ".tmp";
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
  // And those of the untagged name of the releases before build tags.
  RemoveDeadWritersFiles(
      dir.get(), {name, FileName(snapshot.conf_path, kUntaggedSnapshotSuffix)});
  return true;
}

bool ClaimConfigErrorLog(const std::string& statedir,
                         const std::string& conf_path, int64_t now,
                         int64_t interval) {
  std::string err;
  const Fd dir(OpenDir(statedir, &err));
  if (dir.get() < 0) return true;
  const std::string name = FileName(conf_path, kLoggedSuffix);
  const Fd fd(openat(dir.get(), name.c_str(),
                     O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
                     0600));
  // The lock is waited for a moment only: a su stopped or frozen while it
  // held it must not hang every later login (then the error is logged
  // without the once-a-minute bound).
  constexpr int kLockWaitMs = 100;
  struct stat st;
  if (fd.get() < 0 || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      !Trusted(st) || !WaitFlock(fd.get(), LOCK_EX, kLockWaitMs)) {
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
