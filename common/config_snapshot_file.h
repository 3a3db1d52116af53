// Where compiled configurations are kept (doc/DESIGN.md §11.1): one file
// per configuration path and build, <statedir>/config/<hash>.<tag>.snapshot,
// where <hash> is 16 hex digits of a hash of the path (the snapshot also
// holds the path, so a collision is only a miss) and <tag> the build's
// configuration format tag (common/config_build_tag_gen.py): modules of two
// builds in one system (an older one kept loaded by a process across an
// upgrade) never read or replace each other's. The directory is 0700 and the
// files 0600; both are trusted configuration, so a reader refuses them unless
// they are owned by root or the effective uid, are not writable by group
// or others, and are not symlinks.
#ifndef PAM_DEFENDER_COMMON_CONFIG_SNAPSHOT_FILE_H_
#define PAM_DEFENDER_COMMON_CONFIG_SNAPSHOT_FILE_H_

#include <cstdint>
#include <string>

#include "common/config_snapshot.h"

namespace defender {

// "<statedir>/config/<hash>.<tag>.snapshot".
std::string ConfigSnapshotPath(const std::string& statedir,
                               const std::string& conf_path);

enum class SnapshotRead { kOk, kAbsent, kBad };

// Reads and decodes the snapshot for `conf_path` into *out, which must be
// default-constructed (DecodeConfigSnapshot). kAbsent: there is none
// (or the directory is absent); kBad: it exists but is untrusted, unreadable
// or does not decode, or names another path (*err says which).
SnapshotRead ReadConfigSnapshot(const std::string& statedir,
                                const std::string& conf_path,
                                ConfigSnapshot* out, std::string* err);

// The last valid configuration of `conf_path` that another build (a
// release before an upgrade, or the untagged "<hash>.snapshot" of the
// releases before tags) compiled: of the files "<hash>.<tag>.snapshot"
// other than this build's, the one modified last, read as
// ReadConfigSnapshot reads (trusted, decoded under this build's rules,
// made for `conf_path`: else kBad with *err saying why). kAbsent with *err
// set when there is none. For use only in place of a missing own
// snapshot (ReadConfigSnapshot's kAbsent), never as the file's current
// version: after an upgrade, a file that is invalid at that moment is still
// enforced by its last valid version.
SnapshotRead ReadOtherBuildsConfigSnapshot(const std::string& statedir,
                                           const std::string& conf_path,
                                           ConfigSnapshot* out,
                                           std::string* err);

// Writes the snapshot for snapshot.conf_path atomically (a temporary file
// "<hash>.<tag>.snapshot.<pid>.<tid>.tmp" renamed over the old one), creating
// <statedir> (0700 after the umask of the caller) and <statedir>/config
// (0700) if needed. Then removes the temporary files of that snapshot that
// writers killed before their rename left, whose process is gone.
bool WriteConfigSnapshot(const std::string& statedir,
                         const ConfigSnapshot& snapshot, std::string* err);

// The rate limit of the "enforcing the last valid configuration" error: true
// if nothing was logged for `conf_path` in the `interval` seconds before
// `now` (then `now` is recorded), false otherwise. The time is kept in
// <statedir>/config/<hash>.<tag>.logged under an flock(), so concurrent
// logins of one build log once. When the file cannot be used, true: an error
// that cannot be rate-limited is still logged.
bool ClaimConfigErrorLog(const std::string& statedir,
                         const std::string& conf_path, int64_t now,
                         int64_t interval);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_CONFIG_SNAPSHOT_FILE_H_
