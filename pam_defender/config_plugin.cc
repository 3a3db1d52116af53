#include "pam_defender/config_plugin.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "common/config_snapshot.h"
#include "common/lazy_libc.h"
#include "pam_defender/pam_defender.d/config_plugin_abi.h"

namespace defender {
namespace {

constexpr char kPluginDir[] = "pam_defender.d";
constexpr char kPluginName[] = "config.so";

bool ProcessFault(int err) {
  return err == EMFILE || err == ENFILE || err == ENOMEM;
}

bool Trusted(const struct stat& st) {
  return (st.st_uid == 0 || st.st_uid == geteuid()) &&
         (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

// Checks the plugin's directory and file; the directory's check is what
// keeps the file from being replaced between this check and dlopen(). It
// holds two descriptors at once, more than the rest of the compilation: a
// process short of them fails here (*process_fault).
bool CheckPlugin(const std::string& path, std::string* err,
                 bool* process_fault) {
  const std::string dir = path.substr(0, path.rfind('/'));
  struct stat st;
  const int fd =
      open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    *process_fault = ProcessFault(errno);
    *err = "configuration parser " + dir + ": " + lazy::strerror(errno);
    return false;
  }
  const bool dir_ok = fstat(fd, &st) == 0 && Trusted(st);
  int file = -1;
  if (dir_ok) {
    file = openat(fd, kPluginName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  }
  const int saved = errno;
  close(fd);
  if (!dir_ok) {
    *err = "configuration parser " + dir +
           ": untrusted (must be owned by root and not writable by group or "
           "others)";
    return false;
  }
  if (file < 0) {
    *process_fault = ProcessFault(saved);
    *err = "configuration parser " + path + ": " + lazy::strerror(saved);
    return false;
  }
  const bool file_ok =
      fstat(file, &st) == 0 && S_ISREG(st.st_mode) && Trusted(st);
  close(file);
  if (!file_ok) {
    *err = "configuration parser " + path +
           ": untrusted (must be a regular file owned by root and not "
           "writable by group or others)";
    return false;
  }
  return true;
}

// Calls the plugin's entry point, growing the buffer once if it asks.
bool Call(DefenderConfigCompileFn* compile, const std::string& conf_path,
          std::string* bytes, std::string* err) {
  std::vector<unsigned char> out(64 * 1024);
  char message[1024] = {};
  for (int attempt = 0; attempt < 2; ++attempt) {
    size_t len = 0;
    const int rc = compile(conf_path.c_str(), out.data(), out.size(), &len,
                           message, sizeof message);
    if (rc == 0 && len <= out.size()) {
      bytes->assign(reinterpret_cast<const char*>(out.data()), len);
      return true;
    }
    if (rc == 1) {
      message[sizeof message - 1] = '\0';
      *err = message[0] ? message : conf_path + ": invalid";
      return false;
    }
    if (rc != 2 || len <= out.size() || len > kMaxConfigSnapshotSize) break;
    out.resize(len);
  }
  *err = conf_path + ": the configuration parser gave no usable answer";
  return false;
}

}  // namespace

std::string ConfigPluginPath(std::string* err) {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&ConfigPluginPath), &info) == 0 ||
      info.dli_fname == nullptr || info.dli_fname[0] != '/') {
    *err = "configuration parser: cannot find the module's directory";
    return "";
  }
  const std::string module(info.dli_fname);
  return module.substr(0, module.rfind('/') + 1) + kPluginDir + "/" +
         kPluginName;
}

bool CompileConfigWithPlugin(const std::string& conf_path, Config* cfg,
                             std::string* err, bool* process_fault) {
  *process_fault = false;
  const std::string path = ConfigPluginPath(err);
  if (path.empty() || !CheckPlugin(path, err, process_fault)) return false;
  errno = 0;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    // The loader's failed call, where it left its errno (mapping the
    // object needs memory).
    *process_fault = ProcessFault(errno);
    const char* why = dlerror();
    *err = "configuration parser " + path + ": " + (why ? why : "dlopen");
    return false;
  }
  std::string bytes;
  bool ok = false;
  {
    // Closed however this block is left (Call allocates, and may throw
    // std::bad_alloc).
    const std::unique_ptr<void, int (*)(void*)> closer(handle, dlclose);
    auto* compile = reinterpret_cast<DefenderConfigCompileFn*>(
        dlsym(handle, DEFENDER_CONFIG_PLUGIN_SYMBOL));
    if (compile == nullptr) {
      *err = "configuration parser " + path +
             ": from another build of pam_defender (no " +
             DEFENDER_CONFIG_PLUGIN_SYMBOL +
             ": an upgrade is under way, or this process kept an older "
             "module loaded across one and must be restarted)";
    } else {
      ok = Call(compile, conf_path, &bytes, err);
    }
  }
  if (!ok) return false;
  ConfigSnapshot snapshot;
  if (!DecodeConfigSnapshot(bytes, &snapshot, err)) {
    *err = "configuration parser " + path + ": " + *err;
    return false;
  }
  if (snapshot.conf_path != conf_path) {
    *err = "configuration parser " + path + ": answered for another file";
    return false;
  }
  *cfg = std::move(snapshot.config);
  return true;
}

}  // namespace defender
