#include "defenderctl/context.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/normalize.h"

namespace defender::ctl {
namespace {

// The first of `path` and its parent directory that this process may not
// use, as errno (EACCES/EPERM), or 0. Used to tell a permission problem
// from any other store error, whatever message the backend produced.
int LocalAccessError(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    return errno == EACCES || errno == EPERM ? errno : 0;
  }
  if (!S_ISDIR(st.st_mode)) return 0;  // Not a permission problem.
  if (access(dir.c_str(), X_OK) != 0 && (errno == EACCES || errno == EPERM)) {
    return errno;
  }
  if (access(path.c_str(), R_OK | W_OK) != 0 &&
      (errno == EACCES || errno == EPERM || errno == EROFS)) {
    return errno;
  }
  if (access(dir.c_str(), W_OK) != 0 && (errno == EACCES || errno == EPERM)) {
    return errno;  // The WAL and shared-memory files live beside the file.
  }
  return 0;
}

}  // namespace

void PrintError(const std::string& message) {
  std::fprintf(stderr, "defenderctl: %s\n", EscapeForDisplay(message).c_str());
}

void PrintWarning(const std::string& message) {
  std::fprintf(stderr, "defenderctl: warning: %s\n",
               EscapeForDisplay(message).c_str());
}

void PrintOut(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

bool Context::LoadConfig() {
  const bool default_path = globals_.config_path.empty();
  const std::string path =
      default_path ? Config::kDefaultConfigPath : globals_.config_path;
  std::string err;
  if (!LoadConfigFile(path, default_path, &config_, &err)) {
    if (geteuid() != 0 && err.find(strerror(EACCES)) != std::string::npos) {
      err += " (run as root)";
    }
    PrintError(err);
    return false;
  }
  return true;
}

Backend* Context::OpenBackend() {
  if (backend_) return backend_.get();
  std::string err;
  BackendOptions options;
  options.redis_server_clock = clock_.IsRealTime();
  backend_ = Backend::Open(config_, options, &err);
  if (backend_) return backend_.get();
  // A file in store.dir that this command would open.
  const std::string local =
      config_.backend == StoreBackend::kLocal ? config_.dir + "/subjects"
      : config_.attempts_store ? config_.dir + "/" + kAttemptDbName
                               : "";
  const int access_error = local.empty() ? 0 : LocalAccessError(local);
  if (access_error != 0) {
    PrintError("cannot open " + config_.dir + ": " + strerror(access_error) +
               (geteuid() != 0 ? " (run as root)" : ""));
  } else {
    PrintError("store unavailable: " + err);
  }
  return nullptr;
}

}  // namespace defender::ctl
