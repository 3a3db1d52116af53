// Parsing the configuration file through the plugin
// <module dir>/pam_defender.d/config.so (doc/DESIGN.md §11.1), so that the
// module carries no TOML parser.
#ifndef PAM_DEFENDER_PAM_DEFENDER_CONFIG_PLUGIN_H_
#define PAM_DEFENDER_PAM_DEFENDER_CONFIG_PLUGIN_H_

#include <string>

#include "common/config.h"

namespace defender {

// The plugin's path: "pam_defender.d/config.so" in the directory this
// module was loaded from (dladdr). Empty with *err set if unknown.
std::string ConfigPluginPath(std::string* err);

// Loads the plugin (its directory and the file must be owned by root or the
// effective uid and not writable by group or others; RTLD_NOW|RTLD_LOCAL),
// has it read `conf_path`, decodes its answer (which passes the same checks
// as a snapshot file) into *cfg and unloads it. On error *err holds the
// plugin's message ("FILE:LINE: KEY: reason") or why the plugin could not
// be used, and *process_fault is set when that was for want of descriptors
// or memory in this process (EMFILE, ENFILE, ENOMEM), which says nothing of
// the file or the plugin: the caller of a setuid program chooses its
// descriptors (doc/DESIGN.md §11.1).
bool CompileConfigWithPlugin(const std::string& conf_path, Config* cfg,
                             std::string* err, bool* process_fault);

}  // namespace defender

#endif  // PAM_DEFENDER_PAM_DEFENDER_CONFIG_PLUGIN_H_
