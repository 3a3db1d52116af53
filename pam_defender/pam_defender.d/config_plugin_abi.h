// The C interface of the configuration plugin, pam_defender.d/config.so
// (doc/DESIGN.md §11.1): the one function the module looks up after
// dlopen(). Plain C types only, buffers owned by the caller; nothing is
// allocated across the boundary and no exception crosses it.
#ifndef PAM_DEFENDER_PAM_DEFENDER_PAM_DEFENDER_D_CONFIG_PLUGIN_ABI_H_
#define PAM_DEFENDER_PAM_DEFENDER_PAM_DEFENDER_D_CONFIG_PLUGIN_ABI_H_

#include <stddef.h>

#define DEFENDER_CONFIG_PLUGIN_SYMBOL "defender_config_compile_v1"

// Reads and validates the configuration file `conf_path` as defenderctl
// does (LoadConfigFile: the file must exist) and encodes it as a
// ConfigSnapshot (common/config_snapshot.h) with conf_path set and a zero
// file identity. Returns:
//   0: the snapshot is in out[0, *out_len);
//   1: the file is invalid: err holds "FILE:LINE: KEY: reason" (or another
//      message naming the file), NUL-terminated and truncated to err_size;
//   2: out_size is too small: *out_len is the size needed.
extern "C" typedef int DefenderConfigCompileFn(const char* conf_path,
                                               unsigned char* out,
                                               size_t out_size, size_t* out_len,
                                               char* err, size_t err_size);

#endif  // PAM_DEFENDER_PAM_DEFENDER_PAM_DEFENDER_D_CONFIG_PLUGIN_ABI_H_
