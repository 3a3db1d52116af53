// How a module step gets its configuration (doc/DESIGN.md §11.1) without
// parsing TOML: the compiled snapshot of the file when the file's identity
// (device, inode, size, mtime, ctime) is the one the snapshot was made
// from; otherwise the file is parsed by the plugin (config_plugin.h) and a
// new snapshot written. When the file is invalid (or cannot be read, or the
// plugin cannot be used) and a snapshot of an earlier version exists, that
// last valid configuration is enforced. A version whose st_ctim is in the
// second of the step's time or the one before, or later (a step that
// stalled between reading the time and the file), is parsed in every step
// and its snapshot marked so that it never matches the file, until the
// file is older: an edit in place at the same size in the same tick of the
// file system's clock changes no part of the identity (git's "racy clean"
// problem). That snapshot is still the last valid configuration. The
// comparison is with the local clock: on a network file system whose
// server's clock is behind by more than a second it does not hold. When
// the file cannot be compiled for want of descriptors or memory in this
// process, *process_fault says so: under a setuid caller, whose user chose
// them, the step refuses (doc/DESIGN.md §11.1).
#ifndef PAM_DEFENDER_PAM_DEFENDER_MODULE_CONFIG_H_
#define PAM_DEFENDER_PAM_DEFENDER_MODULE_CONFIG_H_

#include <cstdint>
#include <memory>
#include <string>

#include "common/config.h"
#include "common/config_snapshot.h"

namespace defender {

// At most one "enforcing the last valid configuration" error per this many
// seconds and configuration file.
inline constexpr int64_t kConfigErrorLogInterval = 60;

// What a PAM handle keeps between its steps (pam_set_data): the valid
// configuration last loaded for `conf` and the identity of the file it was
// loaded from (`exists` false: the missing default file, built-in
// defaults). A later step of the handle uses it while the file is
// unchanged, without reading the snapshot again.
struct ConfigCache {
  std::string conf;
  bool exists = false;
  FileIdentity identity;
  std::shared_ptr<const Config> config;
};

// Sets *cfg for the file `conf`, from *cache when it holds the current
// version of that file (`cache` may be null); a valid configuration
// loaded is stored in *cache (unless the version is that recent at `now`,
// the system clock's epoch seconds in an installed module). The
// configuration is shared with the cache, not copied: a caller that changes it
// (module arguments) copies it first. A missing file is the built-in defaults
// when `missing_ok` (no plugin is needed). Returns false with *err set
// ("FILE:LINE: KEY: reason") when there is no valid configuration. When it
// returns the last valid configuration in place of an invalid file,
// *fallback_error is set to the line to log at LOG_ERR ("configuration error in
// ERR; enforcing the last valid configuration from TIME"), unless one was
// logged in the last kConfigErrorLogInterval seconds before `now`; otherwise it
// is left empty. *process_fault is set when the file could not be compiled
// for want of descriptors or memory in this process (CompileConfigWithPlugin),
// whatever was returned: the configuration in *cfg, if any, is then an older
// version's, and *err says why the file's was not used.
bool LoadModuleConfig(const std::string& conf, bool missing_ok,
                      const std::string& statedir, int64_t now,
                      ConfigCache* cache, std::shared_ptr<const Config>* cfg,
                      std::string* fallback_error, std::string* err,
                      bool* process_fault);

}  // namespace defender

#endif  // PAM_DEFENDER_PAM_DEFENDER_MODULE_CONFIG_H_
