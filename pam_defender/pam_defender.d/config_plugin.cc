// pam_defender.d/config.so: the TOML parser, outside the module
// (doc/DESIGN.md §11.1). The module loads it only when the configuration
// file changed since its compiled snapshot was written.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <type_traits>

#include "common/config.h"
#include "common/config_snapshot.h"
#include "pam_defender/pam_defender.d/config_plugin_abi.h"

namespace {

void CopyError(const std::string& message, char* err, size_t err_size) {
  if (err_size == 0) return;
  const size_t n = std::min(message.size(), err_size - 1);
  memcpy(err, message.data(), n);
  err[n] = '\0';
}

int Compile(const char* conf_path, unsigned char* out, size_t out_size,
            size_t* out_len, char* err, size_t err_size) {
  defender::ConfigSnapshot snapshot;
  snapshot.conf_path = conf_path;
  std::string message;
  if (!defender::LoadConfigFile(snapshot.conf_path, false, &snapshot.config,
                                &message)) {
    CopyError(message, err, err_size);
    return 1;
  }
  const std::string bytes = defender::EncodeConfigSnapshot(snapshot);
  *out_len = bytes.size();
  if (bytes.size() > out_size) return 2;
  memcpy(out, bytes.data(), bytes.size());
  return 0;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int
DEFENDER_CONFIG_COMPILE_FN(const char* conf_path, unsigned char* out,
                           size_t out_size, size_t* out_len, char* err,
                           size_t err_size) {
  static_assert(std::is_same_v<decltype(DEFENDER_CONFIG_COMPILE_FN),
                               DefenderConfigCompileFn>,
                "the plugin's entry point has the type the module calls");
  // No exception may leave: the module and this object each link their own
  // C++ runtime, and one's unwinder cannot unwind the other's frames (the
  // host would abort). The handlers allocate nothing: the exception may be
  // std::bad_alloc.
  try {
    return Compile(conf_path, out, out_size, out_len, err, err_size);
  } catch (const std::exception& e) {
    if (err_size > 0) {
      snprintf(err, err_size, "%s: internal error: %s", conf_path, e.what());
    }
  } catch (...) {
    if (err_size > 0) snprintf(err, err_size, "%s: internal error", conf_path);
  }
  return 1;
}
