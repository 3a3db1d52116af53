// The configuration: every key of defender.toml (doc/DESIGN.md §11) with its
// default, and the one setter through which the file and the module's
// KEY=VALUE arguments both pass.
//
// Layering (as pam_faillock): built-in defaults, then the file, then the
// module arguments. Derived defaults (failure_limit_user defaults to
// failure_limit, ...) are resolved when read, through the accessors, so a
// later layer that sets failure_limit still moves an unset failure_limit_user.
#ifndef PAM_DEFENDER_COMMON_CONFIG_H_
#define PAM_DEFENDER_COMMON_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/normalize.h"

namespace defender {

// The longest block, cool-off or attempt window a configuration may give
// (ten years), and the longest `defenderctl block --for`.
inline constexpr int64_t kMaxDurationSeconds = 10LL * 366 * 24 * 3600;
// The largest configuration file read, and the most entries of one array
// in it (deny_hosts, for one): what the compiled configuration holds
// (config_snapshot.h).
inline constexpr int64_t kMaxConfigFileSize = 1 << 20;
inline constexpr size_t kMaxListEntries = 1 << 16;

enum class StoreBackend { kLocal, kRedis };
enum class OnError { kLocal, kOpen, kClosed };

const char* BackendName(StoreBackend b);
const char* OnErrorName(OnError e);

struct Config {
  // [lockout]
  int64_t failure_limit = 3;
  std::optional<int64_t> failure_limit_user;
  std::optional<int64_t> failure_limit_host;
  bool by_user_and_host = false;
  bool disable_user_lockout = false;
  bool disable_host_lockout = false;
  int64_t cooloff_time = 300;
  std::optional<int64_t> attempt_cooloff_time;
  std::optional<std::vector<int64_t>> lockout_cooloff_time;
  bool even_deny_root = false;
  // doc/DESIGN.md §3.14; 0 = no remembered hosts, no pair subject.
  int64_t remember_hosts_days = 30;
  std::optional<int64_t> failure_limit_pair;
  bool fold_username_case = false;
  int64_t ipv6_prefix = 64;
  std::vector<std::string> allow_users;
  std::vector<Cidr> allow_hosts;
  std::vector<Cidr> deny_hosts;
  std::string lockout_message =
      "Account locked: too many login attempts. Try again in "
      "{cooloff_minutes} minute(s).";
  std::string permanent_lockout_message =
      "Account locked: too many login attempts. Contact an administrator.";
  // Shown when a host block (or deny_hosts) refuses the attempt.
  std::string host_lockout_message =
      "Logins from your address are blocked: too many failed attempts. Try "
      "again later or contact an administrator.";
  // mode = "report" (doc/DESIGN.md §3.16): count, block and log as in
  // "enforce", but the module refuses nothing.
  bool report_only = false;

  // [store]
  StoreBackend backend = StoreBackend::kLocal;
  // All local state: the subject store and the attempt log. store.path (an
  // older key) names a file in it.
  std::string dir = kDefaultDir;
  std::string key_prefix = "defender";

  // [redis]
  std::string redis_url = "redis://127.0.0.1:6379/0";
  std::string redis_password_file;
  std::vector<std::string> redis_sentinels;
  std::string redis_sentinel_master = "mymaster";
  int64_t redis_connect_timeout_ms = 200;
  int64_t redis_command_timeout_ms = 200;
  OnError redis_on_error = OnError::kLocal;

  // [attempts]
  bool attempts_store = true;
  int64_t attempts_expiration_hours = 24;
  // At most this many rows (the newest); 0 = unbounded.
  int64_t attempts_max_rows = 1'000'000;

  // [hooks]
  std::vector<std::string> on_block;
  std::vector<std::string> on_unblock;
  int64_t hooks_timeout_seconds = 10;

  // [firewall] (doc/DESIGN.md §15; used by defenderctl only)
  bool firewall_enabled = false;
  std::vector<int64_t> firewall_ports{22};  // Empty: every port.
  bool firewall_reject = false;             // action: "reject"; else "drop".
  std::string firewall_table = "pam_defender";
  int64_t firewall_resync_seconds = 60;
  int64_t firewall_max_elements = 65536;

  // Where the values came from: the file path, or "(built-in defaults)".
  std::string source = "(built-in defaults)";

  static const char* const kDefaultDir;
  // Longest lockout_cooloff_time list: the local store keeps this many
  // blocks of a subject's history, so the next length is always exact.
  static constexpr size_t kMaxLockoutSteps = 64;
  static const char* const kDefaultConfigPath;

  int64_t FailureLimitUser() const {
    return failure_limit_user.value_or(failure_limit);
  }
  int64_t FailureLimitHost() const {
    return failure_limit_host.value_or(failure_limit);
  }
  int64_t FailureLimitPair() const {
    return failure_limit_pair.value_or(FailureLimitUser());
  }
  int64_t RememberSeconds() const { return remember_hosts_days * 86400; }
  int64_t AttemptCooloff() const {
    return attempt_cooloff_time.value_or(cooloff_time);
  }
  // Block lengths in seconds for the 1st, 2nd, ... block (the last repeats);
  // 0 = permanent. Never empty.
  std::vector<int64_t> LockoutCooloffs() const {
    return lockout_cooloff_time.value_or(std::vector<int64_t>{cooloff_time});
  }
  int64_t HistorySeconds() const { return attempts_expiration_hours * 3600; }
  // True when the config names something secret or executable: hooks or a
  // Redis password (in the URL, a password_file, or a redis.sentinels entry
  // with an '@').
  bool NamesSecrets() const;
  // Whether redis.url holds a password ("redis://:pw@..." or
  // "redis://user:pw@..."): the file must not be readable by group or
  // others either (LoadConfigFile).
  bool UrlHoldsPassword() const;
};

// Sets one key from the module argument form "KEY=VALUE", where KEY is any
// scalar key of [lockout] (e.g. "failure_limit=5"), optionally written as
// "lockout.KEY". On error leaves *cfg unchanged and sets *err to a message
// naming the argument and the key.
bool ApplyOverride(std::string_view arg, Config* cfg, std::string* err);

// ParseConfigText and LoadConfigFile parse TOML: they are in the
// defender_config_toml library (common/meson.build), which defenderctl, the
// configuration plugin and the tests link, and the module does not
// (doc/DESIGN.md §11.1).
//
// Parses TOML text into *cfg over its current values. `name` is used in
// messages, which have the form "NAME:LINE: SECTION.KEY: reason". Unknown
// sections or keys, wrong types and out-of-range values are errors. On error
// *cfg may be partly updated and must be discarded.
bool ParseConfigText(std::string_view text, const std::string& name,
                     Config* cfg, std::string* err);

// Reads and parses the file at `path` over *cfg. The file is opened with
// O_NOFOLLOW|O_CLOEXEC and must be a regular file under 1 MiB. If the result
// NamesSecrets(), the file must be owned by root and not writable by group
// or others. When `missing_ok` and the file does not exist, returns true and
// leaves *cfg as it is. Errors name the file (and line and key if known).
// Their kind: kNotFound (no such file), kPermission (not readable by this
// user), kCorrupt (a file that cannot be used as it is: a symlink, not a
// regular file, too large, invalid TOML or values, or naming secrets while
// not root's), kUnavailable (any other read error).
bool LoadConfigFile(const std::string& path, bool missing_ok, Config* cfg,
                    Error* err);
// The same, for callers that only report the message.
bool LoadConfigFile(const std::string& path, bool missing_ok, Config* cfg,
                    std::string* err);

// The effective configuration as TOML that ParseConfigText accepts, with
// derived defaults written out and the Redis password redacted (RedactUrl).
std::string DumpConfig(const Config& cfg);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_CONFIG_H_
