#include "pam_defender/module_config.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "common/config_snapshot.h"
#include "common/config_snapshot_file.h"
#include "common/format.h"
#include "common/lazy_libc.h"
#include "pam_defender/config_plugin.h"

namespace defender {

namespace {

// The Config of a snapshot held in memory, sharing its ownership.
std::shared_ptr<const Config> ConfigOf(
    const std::shared_ptr<ConfigSnapshot>& snapshot) {
  return std::shared_ptr<const Config>(snapshot, &snapshot->config);
}

void Remember(ConfigCache* cache, const std::string& conf, bool exists,
              const FileIdentity& identity,
              const std::shared_ptr<const Config>& cfg) {
  if (cache == nullptr) return;
  cache->conf = conf;
  cache->exists = exists;
  cache->identity = identity;
  cache->config = cfg;
}

// Whether the file may still change without changing its identity: an
// edit in place, at the same size, in the same tick of the file system's
// clock as the version just read, leaves st_ctim as it was. True when the
// version's st_ctim is in the second of `now` or the one before, or later:
// `now` was read before the file, and a step that stalled in between (its
// user can freeze it) reads a version newer than `now`'s second.
bool MayChangeUnseen(const FileIdentity& identity, int64_t now) {
  int64_t d;
  return __builtin_sub_overflow(identity.ctime_sec, now, &d) || d >= -1;
}

// The rest of LoadModuleConfig, when the file is gone or is not the version
// of its snapshot `last` (`read` and `last_err`: how reading it went):
// compiles the file with the plugin, or falls back to `last`. Rare, so
// kept out of the code every step runs.
[[gnu::cold, gnu::noinline]] bool LoadChanged(
    const std::string& conf, bool exists, int stat_errno,
    const FileIdentity& identity, const std::string& statedir, int64_t now,
    ConfigCache* cache, const std::shared_ptr<ConfigSnapshot>& last,
    SnapshotRead read, const std::string& last_err,
    std::shared_ptr<const Config>* cfg, std::string* fallback_error,
    std::string* err, bool* process_fault) {
  if (!exists) {
    *err = conf + ": cannot open: " + lazy::strerror(stat_errno);
  } else {
    const auto fresh = std::make_shared<ConfigSnapshot>();
    if (CompileConfigWithPlugin(conf, &fresh->config, err, process_fault)) {
      fresh->conf_path = conf;
      fresh->identity = identity;
      // A version that may still change unseen is neither kept for the
      // handle's next step nor compiled as the file's current version: its
      // snapshot carries an identity no file has (st_ctim nanoseconds -1),
      // so the steps that follow parse the file again until it is older,
      // and it is still the last valid configuration if the file breaks.
      const bool unsettled = MayChangeUnseen(identity, now);
      if (unsettled) fresh->identity.ctime_nsec = -1;
      // Best effort: without a snapshot the next login parses again.
      std::string ignored;
      WriteConfigSnapshot(statedir, *fresh, &ignored);
      *cfg = ConfigOf(fresh);
      if (!unsettled) Remember(cache, conf, true, identity, *cfg);
      return true;
    }
  }
  std::shared_ptr<ConfigSnapshot> fallback = last;
  if (read == SnapshotRead::kBad) {
    *err += " (no last valid configuration: " + last_err + ")";
    return false;
  }
  if (read == SnapshotRead::kAbsent) {
    // This build has compiled no version yet (the first step after an
    // upgrade): the last valid one another build compiled.
    auto other = std::make_shared<ConfigSnapshot>();
    std::string other_err;
    const SnapshotRead other_read =
        ReadOtherBuildsConfigSnapshot(statedir, conf, other.get(), &other_err);
    if (other_read != SnapshotRead::kOk) {
      if (other_read == SnapshotRead::kBad) {
        *err += " (no last valid configuration: " + other_err + ")";
      }
      return false;
    }
    fallback = std::move(other);
  }
  // A process short of descriptors or memory says nothing of the file: it
  // is logged without taking the file's once-a-minute turn, which would
  // hide the error of a broken file from the steps that follow.
  if (*process_fault ||
      ClaimConfigErrorLog(statedir, conf, now, kConfigErrorLogInterval)) {
    *fallback_error = "configuration error in " + *err +
                      "; enforcing the last valid configuration from " +
                      FormatIso8601(fallback->identity.mtime_sec);
  }
  *cfg = ConfigOf(fallback);
  return true;
}

}  // namespace

bool LoadModuleConfig(const std::string& conf, bool missing_ok,
                      const std::string& statedir, int64_t now,
                      ConfigCache* cache, std::shared_ptr<const Config>* cfg,
                      std::string* fallback_error, std::string* err,
                      bool* process_fault) {
  fallback_error->clear();
  *process_fault = false;
  struct stat st;
  const bool exists = lstat(conf.c_str(), &st) == 0;
  const int stat_errno = errno;
  const FileIdentity identity = exists ? FileIdentity::Of(st) : FileIdentity();
  const bool defaults = !exists && stat_errno == ENOENT && missing_ok;
  if (cache != nullptr && cache->conf == conf && cache->exists == exists &&
      (exists || defaults) && cache->identity == identity && cache->config) {
    *cfg = cache->config;
    return true;
  }
  if (defaults) {
    *cfg = std::make_shared<const Config>();
    Remember(cache, conf, false, identity, *cfg);
    return true;
  }
  // Decoded where it will stay: *cfg points into it (no copy or move of
  // the Config, whose code a login would otherwise touch).
  const auto last = std::make_shared<ConfigSnapshot>();
  std::string last_err;
  const SnapshotRead read =
      ReadConfigSnapshot(statedir, conf, last.get(), &last_err);
  if (exists && read == SnapshotRead::kOk && last->identity == identity) {
    *cfg = ConfigOf(last);
    Remember(cache, conf, true, identity, *cfg);
    return true;
  }
  return LoadChanged(conf, exists, stat_errno, identity, statedir, now, cache,
                     last, read, last_err, cfg, fallback_error, err,
                     process_fault);
}

}  // namespace defender
