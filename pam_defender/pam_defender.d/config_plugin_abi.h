// The C interface of the configuration plugin, pam_defender.d/config.so
// (doc/DESIGN.md §11.1): the one function the module looks up after
// dlopen(). Plain C types only, buffers owned by the caller; nothing is
// allocated across the boundary and no exception crosses it.
#ifndef PAM_DEFENDER_PAM_DEFENDER_PAM_DEFENDER_D_CONFIG_PLUGIN_ABI_H_
#define PAM_DEFENDER_PAM_DEFENDER_PAM_DEFENDER_D_CONFIG_PLUGIN_ABI_H_

#include <stddef.h>

#include "common/config_build_tag.h"

// The entry point is named after the build's configuration format tag
// (common/config_build_tag_gen.py): defender_config_compile_<16 hex
// digits>. A module finds no entry point in a plugin of another format,
// such as the one an upgrade installed while a process kept an older
// module loaded, and never decodes its answer.
#define DEFENDER_CONFIG_PLUGIN_SYMBOL \
  "defender_config_compile_" DEFENDER_CONFIG_BUILD_TAG

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
