// LoadConfigFile: reading defender.toml. Part of the TOML library
// (common/meson.build), not of the module, which never parses TOML itself
// (doc/DESIGN.md §11.1).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/config.h"

namespace defender {

bool LoadConfigFile(const std::string& path, bool missing_ok, Config* cfg,
                    std::string* err) {
  Error e;
  if (LoadConfigFile(path, missing_ok, cfg, &e)) return true;
  *err = std::move(e.message);
  return false;
}

bool LoadConfigFile(const std::string& path, bool missing_ok, Config* cfg,
                    Error* err) {
  constexpr off_t kMaxSize = kMaxConfigFileSize;
  const int fd = open(
      path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT && missing_ok) return true;
    // O_NOFOLLOW on a symlink: ELOOP, a file that cannot be used as it is.
    err->kind = errno == ELOOP ? ErrorKind::kCorrupt : KindOfErrno(errno);
    err->message = path + ": cannot open: " + strerror(errno);
    return false;
  }
  struct stat st;
  std::string text;
  bool ok = fstat(fd, &st) == 0;
  if (!ok) {
    *err = {KindOfErrno(errno), path + ": cannot stat: " + strerror(errno)};
  } else if (!S_ISREG(st.st_mode)) {
    *err = {ErrorKind::kCorrupt, path + ": not a regular file"};
    ok = false;
  } else if (st.st_size > kMaxSize) {
    *err = {ErrorKind::kCorrupt, path + ": larger than 1 MiB"};
    ok = false;
  } else {
    // Read to the end (one byte more than fstat said, to see a file that
    // grew): a read error, or another size than fstat's (a file rewritten
    // in place while it was read, or one whose size says nothing, as in
    // /proc), is an error, never a shorter configuration.
    text.resize(static_cast<size_t>(st.st_size) + 1);
    size_t got = 0;
    while (got < text.size()) {
      const ssize_t n = read(fd, text.data() + got, text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *err = {KindOfErrno(errno), path + ": cannot read: " + strerror(errno)};
        ok = false;
        break;
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    if (ok && got != static_cast<size_t>(st.st_size)) {
      *err = {ErrorKind::kCorrupt, path + ": changed while it was read"};
      ok = false;
    }
    text.resize(got);
  }
  close(fd);
  if (!ok) return false;
  Config parsed = *cfg;
  if (!ParseConfigText(text, path, &parsed, &err->message)) {
    err->kind = ErrorKind::kCorrupt;
    return false;
  }
  if (parsed.NamesSecrets() &&
      (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)) {
    *err = {ErrorKind::kCorrupt,
            path +
                ": names hooks or a Redis password, so it must be owned by "
                "root and not writable by group or others"};
    return false;
  }
  if (parsed.UrlHoldsPassword() && (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    *err = {ErrorKind::kCorrupt,
            path +
                ": holds a Redis password in redis.url, so it must not be "
                "readable by group or others (chmod 600; or put the password "
                "in redis.password_file)"};
    return false;
  }
  parsed.source = path;
  *cfg = std::move(parsed);
  return true;
}

}  // namespace defender
