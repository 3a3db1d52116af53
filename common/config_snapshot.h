// The compiled configuration (doc/DESIGN.md §11.1): a validated Config
// encoded to bytes, with the identity of the file it was read from, so that
// the module can use a configuration without parsing TOML.
//
// Format, version 1 (integers little-endian):
//   "PDCONFIG" (8 bytes), u32 format version, u32 byte length of the whole
//   snapshot; the file's identity: u64 st_dev, u64 st_ino, i64 st_size,
//   i64 st_mtim (sec, nsec), i64 st_ctim (sec, nsec); string conf path;
//   string Config::source; u32 key count, then per key: string
//   "SECTION.KEY", u8 value type, value; u64 FNV-1a of all bytes before it.
//   A string is a u32 length and its bytes; an int is an i64; a bool a u8;
//   a list a u32 count and its elements.
// Keys are written through the getters of the key table (config_keys.h)
// and read back through SetKey, so a decoded Config passed the same checks
// as one parsed from TOML, and a key added to the table is in the format
// without a change here. A key that is unset (optional) or at its built-in
// default is not written.
#ifndef PAM_DEFENDER_COMMON_CONFIG_SNAPSHOT_H_
#define PAM_DEFENDER_COMMON_CONFIG_SNAPSHOT_H_

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/config.h"

namespace defender {

// What tells one version of a file from another: the same inode with the
// same size and change times. An edit in place changes st_ctim; a new file
// renamed over it changes st_ino.
struct FileIdentity {
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t size = 0;
  int64_t mtime_sec = 0;
  int64_t mtime_nsec = 0;
  int64_t ctime_sec = 0;
  int64_t ctime_nsec = 0;

  static FileIdentity Of(const struct stat& st);
  bool operator==(const FileIdentity&) const = default;
};

struct ConfigSnapshot {
  std::string conf_path;  // The file the configuration was read from.
  FileIdentity identity;  // That file's identity when it was read.
  Config config;
};

inline constexpr uint32_t kConfigSnapshotVersion = 1;
// Room for what any configuration file the parser accepts compiles to, with
// a margin: an entry of an address list takes at most twice its bytes in
// the file ("::", -> "::/128" and a length), a string's a length more,
// integer arrays hold at most 64 entries, and each key, the paths and the
// header take a few dozen bytes.
inline constexpr size_t kMaxConfigSnapshotSize =
    4 * kMaxConfigFileSize + (64 << 10);

std::string EncodeConfigSnapshot(const ConfigSnapshot& snapshot);

// Decodes `bytes` into *out, which must be default-constructed (the
// built-in defaults): the keys written are set on it. Anything else than a
// complete snapshot of this format version whose checksum matches and
// whose every value passes the key's checks is an error (*err says what,
// *out is unspecified).
bool DecodeConfigSnapshot(std::string_view bytes, ConfigSnapshot* out,
                          std::string* err);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_CONFIG_SNAPSHOT_H_
