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
// clock as the version just read, leaves st_ctim as it was. A version
// changed within a second of `now` is used, but neither kept in memory nor
// compiled to a snapshot: the steps that follow read it again, until it is
// older.
bool MayChangeUnseen(const FileIdentity& identity, int64_t now) {
  return identity.ctime_sec >= now - 1 && identity.ctime_sec <= now + 1;
}

}  // namespace

bool LoadModuleConfig(const std::string& conf, bool missing_ok,
                      const std::string& statedir, int64_t now,
                      ConfigCache* cache, std::shared_ptr<const Config>* cfg,
                      std::string* fallback_error, std::string* err) {
  fallback_error->clear();
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
  if (!exists) {
    *err = conf + ": cannot open: " + lazy::strerror(stat_errno);
  } else if (read == SnapshotRead::kOk && last->identity == identity) {
    *cfg = ConfigOf(last);
    Remember(cache, conf, true, identity, *cfg);
    return true;
  } else {
    const auto fresh = std::make_shared<ConfigSnapshot>();
    if (CompileConfigWithPlugin(conf, &fresh->config, err)) {
      fresh->conf_path = conf;
      fresh->identity = identity;
      *cfg = ConfigOf(fresh);
      if (MayChangeUnseen(identity, now)) return true;
      // Best effort: without a snapshot the next login parses again.
      std::string ignored;
      WriteConfigSnapshot(statedir, *fresh, &ignored);
      Remember(cache, conf, true, identity, *cfg);
      return true;
    }
  }
  if (read != SnapshotRead::kOk) {
    if (read == SnapshotRead::kBad) {
      *err += " (no last valid configuration: " + last_err + ")";
    }
    return false;
  }
  if (ClaimConfigErrorLog(statedir, conf, now, kConfigErrorLogInterval)) {
    *fallback_error = "configuration error in " + *err +
                      "; enforcing the last valid configuration from " +
                      FormatIso8601(last->identity.mtime_sec);
  }
  *cfg = ConfigOf(last);
  return true;
}

}  // namespace defender
