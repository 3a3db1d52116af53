#include "common/config.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <utility>

#include "common/config_keys.h"
#include "common/redis_url.h"
#include "defender_build_config.h"

namespace defender {

const char* const Config::kDefaultDir = DEFENDER_DEFAULT_DIR;
const char* const Config::kDefaultConfigPath = DEFENDER_DEFAULT_CONFIG;

const char* BackendName(StoreBackend b) {
  return b == StoreBackend::kLocal ? "local" : "redis";
}

const char* OnErrorName(OnError e) {
  switch (e) {
    case OnError::kLocal:
      return "local";
    case OnError::kOpen:
      return "open";
    case OnError::kClosed:
      return "closed";
  }
  return "?";
}

namespace {

// "user:password" of "scheme://user:password@host...", if the URL has an
// '@' before its path.
std::optional<std::string_view> UrlUserInfo(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::nullopt;
  const size_t at = url.find('@', scheme + 3);
  const size_t slash = url.find('/', scheme + 3);
  if (at == std::string_view::npos || slash < at) return std::nullopt;
  return url.substr(scheme + 3, at - scheme - 3);
}

}  // namespace

bool Config::NamesSecrets() const {
  if (!on_block.empty() || !on_unblock.empty()) return true;
  if (!redis_password_file.empty()) return true;
  // A Sentinel entry is refused when it holds an '@' (a user or password),
  // but a Config may be built without the parser.
  for (const std::string& s : redis_sentinels) {
    if (s.find('@') != std::string::npos) return true;
  }
  // A user or password in the URL.
  return UrlUserInfo(redis_url).has_value();
}

bool Config::UrlHoldsPassword() const {
  const std::optional<std::string_view> info = UrlUserInfo(redis_url);
  return info && info->find(':') != std::string_view::npos;
}

namespace config_internal {
namespace {

constexpr int64_t kTenYears = kMaxDurationSeconds;
constexpr int64_t kNoMax = INT64_MAX;

bool ParseCidrList(const std::vector<std::string>& in, std::vector<Cidr>* out,
                   std::string* err) {
  std::vector<Cidr> result;
  for (const std::string& s : in) {
    std::optional<Cidr> c = ParseCidr(s, err);
    if (!c) return false;
    result.push_back(*c);
  }
  *out = std::move(result);
  return true;
}

Value Int(int64_t i) {
  Value v{Value::Type::kInt};
  v.i = i;
  return v;
}
Value Bool(bool b) {
  Value v{Value::Type::kBool};
  v.b = b;
  return v;
}
Value String(std::string s) {
  Value v{Value::Type::kString};
  v.s = std::move(s);
  return v;
}
Value Ints(std::vector<int64_t> ints) {
  Value v{Value::Type::kIntList};
  v.ints = std::move(ints);
  return v;
}
Value Strings(std::vector<std::string> strings) {
  Value v{Value::Type::kStringList};
  v.strings = std::move(strings);
  return v;
}
Value Cidrs(const std::vector<Cidr>& cidrs) {
  Value v{Value::Type::kStringList};
  for (const Cidr& c : cidrs) v.strings.push_back(c.ToString());
  return v;
}

#define DEFENDER_SETTER(body)                               \
  [](Config* c, const Value& v, std::string* err) -> bool { \
    (void)err;                                              \
    body;                                                   \
    return true;                                            \
  }

// The getter of a key that is always set, and of one that may be unset.
#define GET(expr)                         \
  [](const Config& c, Value* v) -> bool { \
    *v = expr;                            \
    return true;                          \
  }
#define GET_OPT(field, make)              \
  [](const Config& c, Value* v) -> bool { \
    if (!c.field) return false;           \
    *v = make(*c.field);                  \
    return true;                          \
  }

// The table as written: each key with its setter and getter. Only read at
// compile time (kKeys below, SetOne and GetOne) in optimized builds, so
// that no table of function pointers is in the module.
struct KeyEntry {
  const char* section;
  const char* name;
  KeyType type;
  int64_t min;
  int64_t max;
  bool (*set)(Config* cfg, const Value& v, std::string* err);
  bool (*get)(const Config& cfg, Value* v);
};

constexpr KeyEntry kEntries[] = {
    {"lockout", "failure_limit", KeyType::kInt, 0, 1'000'000,
     DEFENDER_SETTER(c->failure_limit = v.i), GET(Int(c.failure_limit))},
    {"lockout", "failure_limit_user", KeyType::kInt, 0, 1'000'000,
     DEFENDER_SETTER(c->failure_limit_user = v.i),
     GET_OPT(failure_limit_user, Int)},
    {"lockout", "failure_limit_host", KeyType::kInt, 0, 1'000'000,
     DEFENDER_SETTER(c->failure_limit_host = v.i),
     GET_OPT(failure_limit_host, Int)},
    {"lockout", "by_user_and_host", KeyType::kBool, 0, 0,
     DEFENDER_SETTER(c->by_user_and_host = v.b), GET(Bool(c.by_user_and_host))},
    {"lockout", "disable_user_lockout", KeyType::kBool, 0, 0,
     DEFENDER_SETTER(c->disable_user_lockout = v.b),
     GET(Bool(c.disable_user_lockout))},
    {"lockout", "disable_host_lockout", KeyType::kBool, 0, 0,
     DEFENDER_SETTER(c->disable_host_lockout = v.b),
     GET(Bool(c.disable_host_lockout))},
    {"lockout", "cooloff_time", KeyType::kInt, 0, kTenYears,
     DEFENDER_SETTER(c->cooloff_time = v.i), GET(Int(c.cooloff_time))},
    {"lockout", "attempt_cooloff_time", KeyType::kInt, 0, kTenYears,
     DEFENDER_SETTER(c->attempt_cooloff_time = v.i),
     GET_OPT(attempt_cooloff_time, Int)},
    {"lockout", "lockout_cooloff_time", KeyType::kIntOrIntList, 0, kTenYears,
     [](Config* c, const Value& v, std::string* err) {
       if (v.ints.size() > Config::kMaxLockoutSteps) {
         *err =
             "at most " + std::to_string(Config::kMaxLockoutSteps) + " lengths";
         return false;
       }
       c->lockout_cooloff_time = v.ints;
       return true;
     },
     GET_OPT(lockout_cooloff_time, Ints)},
    {"lockout", "even_deny_root", KeyType::kBool, 0, 0,
     DEFENDER_SETTER(c->even_deny_root = v.b), GET(Bool(c.even_deny_root))},
    {"lockout", "fold_username_case", KeyType::kBool, 0, 0,
     DEFENDER_SETTER(c->fold_username_case = v.b),
     GET(Bool(c.fold_username_case))},
    {"lockout", "remember_hosts_days", KeyType::kInt, 0, 3650,
     DEFENDER_SETTER(c->remember_hosts_days = v.i),
     GET(Int(c.remember_hosts_days))},
    {"lockout", "failure_limit_pair", KeyType::kInt, 0, 1'000'000,
     DEFENDER_SETTER(c->failure_limit_pair = v.i),
     GET_OPT(failure_limit_pair, Int)},
    {"lockout", "ipv6_prefix", KeyType::kInt, 1, 128,
     DEFENDER_SETTER(c->ipv6_prefix = v.i), GET(Int(c.ipv6_prefix))},
    {"lockout", "allow_users", KeyType::kStringList, 0, 0,
     DEFENDER_SETTER(c->allow_users = v.strings), GET(Strings(c.allow_users))},
    {"lockout", "allow_hosts", KeyType::kStringList, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       return ParseCidrList(v.strings, &c->allow_hosts, err);
     },
     GET(Cidrs(c.allow_hosts))},
    {"lockout", "deny_hosts", KeyType::kStringList, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       return ParseCidrList(v.strings, &c->deny_hosts, err);
     },
     GET(Cidrs(c.deny_hosts))},
    {"lockout", "lockout_message", KeyType::kString, 0, 0,
     DEFENDER_SETTER(c->lockout_message = v.s), GET(String(c.lockout_message))},
    {"lockout", "permanent_lockout_message", KeyType::kString, 0, 0,
     DEFENDER_SETTER(c->permanent_lockout_message = v.s),
     GET(String(c.permanent_lockout_message))},
    {"lockout", "host_lockout_message", KeyType::kString, 0, 0,
     DEFENDER_SETTER(c->host_lockout_message = v.s),
     GET(String(c.host_lockout_message))},
    {"lockout", "mode", KeyType::kString, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       if (v.s != "enforce" && v.s != "report") {
         *err = "expected \"enforce\" or \"report\", got \"" +
                EscapeText(v.s, 40) + "\"";
         return false;
       }
       c->report_only = v.s == "report";
       return true;
     },
     GET(String(c.report_only ? "report" : "enforce"))},

    {"store", "backend", KeyType::kString, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       if (v.s == "local" || v.s == "sqlite") {  // "sqlite": older name.
         c->backend = StoreBackend::kLocal;
       } else if (v.s == "redis") {
         c->backend = StoreBackend::kRedis;
       } else {
         *err = "expected \"local\" or \"redis\", got \"" +
                EscapeText(v.s, 40) + "\"";
         return false;
       }
       return true;
     },
     GET(String(BackendName(c.backend)))},
    {"store", "dir", KeyType::kString, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       if (v.s.empty() || v.s[0] != '/') {
         *err = "must be an absolute path";
         return false;
       }
       c->dir = v.s;
       return true;
     },
     GET(String(c.dir))},
    // The older form: a file (the SQLite database) in what is now dir. It
    // is never read back: dir carries it (and a snapshot keeps dir).
    {"store", "path", KeyType::kString, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       const size_t slash = v.s.rfind('/');
       if (v.s.empty() || v.s[0] != '/' || slash + 1 == v.s.size()) {
         *err = "must be an absolute path";
         return false;
       }
       c->dir = slash == 0 ? "/" : v.s.substr(0, slash);
       return true;
     },
     [](const Config&, Value*) { return false; }},
    {"store", "key_prefix", KeyType::kString, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       if (v.s.empty() || v.s.size() > 64 ||
           v.s.find_first_of(" \t\r\n{}") != std::string::npos ||
           EscapeText(v.s, 256) != v.s) {
         *err = "must be 1-64 printable characters without spaces or braces";
         return false;
       }
       c->key_prefix = v.s;
       return true;
     },
     GET(String(c.key_prefix))},

    {"redis", "url", KeyType::kString, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       // Checked here, so that `config check` finds what a login would
       // (errors show the URL with its password redacted).
       RedisAddress address;
       if (!ParseRedisUrl(v.s, &address, err)) return false;
       c->redis_url = v.s;
       return true;
     },
     GET(String(c.redis_url))},
    {"redis", "password_file", KeyType::kString, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       if (!v.s.empty() && v.s[0] != '/') {
         *err = "must be an absolute path or empty";
         return false;
       }
       c->redis_password_file = v.s;
       return true;
     },
     GET(String(c.redis_password_file))},
    {"redis", "sentinels", KeyType::kStringList, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       // Checked here, like the url (errors never show what precedes an
       // '@', which would be a password).
       for (const std::string& s : v.strings) {
         std::string host;
         int port = 0;
         if (!ParseHostPort(s, 26379, &host, &port, err)) return false;
       }
       c->redis_sentinels = v.strings;
       return true;
     },
     GET(Strings(c.redis_sentinels))},
    {"redis", "sentinel_master", KeyType::kString, 0, 0,
     DEFENDER_SETTER(c->redis_sentinel_master = v.s),
     GET(String(c.redis_sentinel_master))},
    {"redis", "connect_timeout_ms", KeyType::kInt, 1, 60'000,
     DEFENDER_SETTER(c->redis_connect_timeout_ms = v.i),
     GET(Int(c.redis_connect_timeout_ms))},
    {"redis", "command_timeout_ms", KeyType::kInt, 1, 60'000,
     DEFENDER_SETTER(c->redis_command_timeout_ms = v.i),
     GET(Int(c.redis_command_timeout_ms))},
    {"redis", "on_error", KeyType::kString, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       if (v.s == "local") {
         c->redis_on_error = OnError::kLocal;
       } else if (v.s == "open") {
         c->redis_on_error = OnError::kOpen;
       } else if (v.s == "closed") {
         c->redis_on_error = OnError::kClosed;
       } else {
         *err = "expected \"local\", \"open\" or \"closed\", got \"" +
                EscapeText(v.s, 40) + "\"";
         return false;
       }
       return true;
     },
     GET(String(OnErrorName(c.redis_on_error)))},

    {"attempts", "store", KeyType::kBool, 0, 0,
     DEFENDER_SETTER(c->attempts_store = v.b), GET(Bool(c.attempts_store))},
    {"attempts", "expiration_hours", KeyType::kInt, 1, 24 * 3660,
     DEFENDER_SETTER(c->attempts_expiration_hours = v.i),
     GET(Int(c.attempts_expiration_hours))},
    {"attempts", "max_rows", KeyType::kInt, 0, 1'000'000'000,
     DEFENDER_SETTER(c->attempts_max_rows = v.i),
     GET(Int(c.attempts_max_rows))},

    {"hooks", "on_block", KeyType::kStringList, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       if (!v.strings.empty() && v.strings[0].rfind('/', 0) != 0) {
         *err = "the command (first element) must be an absolute path";
         return false;
       }
       c->on_block = v.strings;
       return true;
     },
     GET(Strings(c.on_block))},
    {"hooks", "on_unblock", KeyType::kStringList, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       if (!v.strings.empty() && v.strings[0].rfind('/', 0) != 0) {
         *err = "the command (first element) must be an absolute path";
         return false;
       }
       c->on_unblock = v.strings;
       return true;
     },
     GET(Strings(c.on_unblock))},
    {"hooks", "timeout_seconds", KeyType::kInt, 1, 3600,
     DEFENDER_SETTER(c->hooks_timeout_seconds = v.i),
     GET(Int(c.hooks_timeout_seconds))},

    {"firewall", "enabled", KeyType::kBool, 0, 0,
     DEFENDER_SETTER(c->firewall_enabled = v.b), GET(Bool(c.firewall_enabled))},
    {"firewall", "ports", KeyType::kIntList, 1, 65535,
     [](Config* c, const Value& v, std::string* err) {
       if (v.ints.size() > 64) {
         *err = "at most 64 ports";
         return false;
       }
       c->firewall_ports = v.ints;
       return true;
     },
     GET(Ints(c.firewall_ports))},
    {"firewall", "action", KeyType::kString, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       if (v.s != "drop" && v.s != "reject") {
         *err = "expected \"drop\" or \"reject\", got \"" +
                EscapeText(v.s, 40) + "\"";
         return false;
       }
       c->firewall_reject = v.s == "reject";
       return true;
     },
     GET(String(c.firewall_reject ? "reject" : "drop"))},
    {"firewall", "table", KeyType::kString, 0, 0,
     [](Config* c, const Value& v, std::string* err) {
       // An nftables identifier, written into commands as it is.
       const bool ok =
           !v.s.empty() && v.s.size() <= 32 &&
           ((v.s[0] | 0x20) >= 'a' && (v.s[0] | 0x20) <= 'z') &&
           v.s.find_first_not_of(
               "abcdefghijklmnopqrstuvwxyz"
               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == std::string::npos;
       if (!ok) {
         *err = "must be 1-32 letters, digits or '_', starting with a letter";
         return false;
       }
       c->firewall_table = v.s;
       return true;
     },
     GET(String(c.firewall_table))},
    {"firewall", "resync_seconds", KeyType::kInt, 1, 86400,
     DEFENDER_SETTER(c->firewall_resync_seconds = v.i),
     GET(Int(c.firewall_resync_seconds))},
    {"firewall", "max_elements", KeyType::kInt, 1, 1'000'000,
     DEFENDER_SETTER(c->firewall_max_elements = v.i),
     GET(Int(c.firewall_max_elements))},
};

#undef DEFENDER_SETTER
#undef GET
#undef GET_OPT

constexpr size_t kKeyCount = std::size(kEntries);

// Copies `from` and its terminating NUL into `to`. In a constant
// expression, a name that does not fit fails the build (an out-of-bounds
// write).
template <size_t N>
constexpr void CopyName(std::string_view from, char (&to)[N]) {
  for (size_t j = 0; j <= from.size(); ++j) {
    to[j] = j < from.size() ? from[j] : '\0';
  }
}

// kEntries without the functions (KeyDef: names in place of pointers).
constexpr std::array<KeyDef, kKeyCount> MakeKeys() {
  std::array<KeyDef, kKeyCount> keys{};
  for (size_t i = 0; i < kKeyCount; ++i) {
    const KeyEntry& e = kEntries[i];
    CopyName(e.section, keys[i].section);
    CopyName(e.name, keys[i].name);
    keys[i].type = e.type;
    keys[i].min = e.min;
    keys[i].max = e.max;
    keys[i].index = static_cast<uint8_t>(i);
  }
  return keys;
}

static_assert(kKeyCount <= UINT8_MAX, "KeyDef::index is one byte");

constexpr std::array<KeyDef, kKeyCount> kKeys = MakeKeys();

// Key I's setter and getter, each a function of its own: called from
// SetAt and GetAt, which would otherwise take in every key's code (one
// function, all of whose code the module would place with what a login
// runs).
template <size_t I>
[[gnu::noinline]] bool SetOne(Config* c, const Value& v, std::string* err) {
  return kEntries[I].set(c, v, err);
}
template <size_t I>
[[gnu::noinline]] bool GetOne(const Config& c, Value* v) {
  return kEntries[I].get(c, v);
}

// Calls key i's setter or getter (i < kKeyCount): direct calls, one per
// key.
template <size_t... I>
bool SetAt(size_t i, Config* c, const Value& v, std::string* err,
           std::index_sequence<I...>) {
  bool ok = false;
  (void)((i == I && ((ok = SetOne<I>(c, v, err)), true)) || ...);
  return ok;
}
template <size_t... I>
bool GetAt(size_t i, const Config& c, Value* v, std::index_sequence<I...>) {
  bool ok = false;
  (void)((i == I && ((ok = GetOne<I>(c, v)), true)) || ...);
  return ok;
}

bool InRange(const KeyDef& key, int64_t i, std::string* err) {
  if (i >= key.min && i <= key.max) return true;
  *err = "value " + std::to_string(i) + " out of range (" +
         std::to_string(key.min) + "-" +
         (key.max == kNoMax ? std::string("") : std::to_string(key.max)) + ")";
  return false;
}

bool CheckValue(const KeyDef& key, const Value& v, Value* out,
                std::string* err) {
  using T = Value::Type;
  if (v.strings.size() > kMaxListEntries || v.ints.size() > kMaxListEntries) {
    *err = "more than " + std::to_string(kMaxListEntries) + " entries";
    return false;
  }
  *out = v;
  switch (key.type) {
    case KeyType::kInt:
      if (v.type != T::kInt) break;
      return InRange(key, v.i, err);
    case KeyType::kBool:
      if (v.type != T::kBool) break;
      return true;
    case KeyType::kString:
      if (v.type != T::kString) break;
      if (v.s.find('\0') != std::string::npos) {
        *err = "must not contain NUL";
        return false;
      }
      // A TOML file is UTF-8 (toml++ checks); a module argument may be any
      // bytes, which DumpConfig could not write back as TOML.
      if (!IsValidUtf8(v.s)) {
        *err = "must be valid UTF-8";
        return false;
      }
      return true;
    case KeyType::kStringList:
      if (v.type != T::kStringList) break;
      return true;
    case KeyType::kIntList:
      if (v.type != T::kIntList) break;
      for (int64_t i : v.ints) {
        if (!InRange(key, i, err)) return false;
      }
      return true;
    case KeyType::kIntOrIntList:
      if (v.type == T::kInt) {
        out->type = T::kIntList;
        out->ints = {v.i};
      } else if (v.type != T::kIntList) {
        break;
      }
      if (out->ints.empty()) {
        *err = "the array must not be empty";
        return false;
      }
      for (int64_t i : out->ints) {
        if (!InRange(key, i, err)) return false;
      }
      return true;
  }
  *err = Expected(key.type);
  return false;
}

}  // namespace

bool KeyDef::Set(Config* cfg, const Value& v, std::string* err) const {
  if (index >= kKeyCount) {
    *err = "not a key of the table";
    return false;
  }
  return SetAt(index, cfg, v, err, std::make_index_sequence<kKeyCount>());
}

bool KeyDef::Get(const Config& cfg, Value* v) const {
  return index < kKeyCount &&
         GetAt(index, cfg, v, std::make_index_sequence<kKeyCount>());
}

std::span<const KeyDef> Keys() { return kKeys; }

const KeyDef* FindKey(std::string_view section, std::string_view name) {
  if (name.empty()) return nullptr;  // No key has an empty name.
  for (const KeyDef& k : kKeys) {
    // The first byte first: most names differ there, and the full
    // comparison measures both C strings.
    if (k.name[0] == name[0] && name == k.name && section == k.section) {
      return &k;
    }
  }
  return nullptr;
}

std::string Expected(KeyType type) {
  switch (type) {
    case KeyType::kInt:
      return "expected an integer";
    case KeyType::kBool:
      return "expected a boolean";
    case KeyType::kString:
      return "expected a string";
    case KeyType::kStringList:
      return "expected an array of strings";
    case KeyType::kIntOrIntList:
      return "expected an integer or an array of integers";
    case KeyType::kIntList:
      return "expected an array of integers";
  }
  return "unexpected type";
}

bool SetKey(const KeyDef& key, const Value& v, Config* cfg, std::string* err) {
  Value checked;
  std::string reason;
  if (!CheckValue(key, v, &checked, &reason) ||
      !key.Set(cfg, checked, &reason)) {
    *err = std::string(key.section) + "." + key.name + ": " + reason;
    return false;
  }
  return true;
}

}  // namespace config_internal

using config_internal::KeyDef;
using config_internal::KeyType;
using config_internal::Value;

bool ApplyOverride(std::string_view arg, Config* cfg, std::string* err) {
  const std::string where =
      "module argument \"" + EscapeText(arg, 120) + "\": ";
  const size_t eq = arg.find('=');
  std::string_view name = arg.substr(0, eq);
  if (name.rfind("lockout.", 0) == 0) name.remove_prefix(8);
  const KeyDef* key = config_internal::FindKey("lockout", name);
  if (eq == std::string_view::npos || key == nullptr ||
      key->type == KeyType::kStringList) {
    *err = where +
           "unknown argument (KEY=VALUE takes a scalar key of "
           "[lockout])";
    return false;
  }
  std::string_view text = arg.substr(eq + 1);
  Value v;
  if (key->type == KeyType::kBool) {
    v.type = Value::Type::kBool;
    if (text == "true" || text == "yes" || text == "1") {
      v.b = true;
    } else if (text == "false" || text == "no" || text == "0") {
      v.b = false;
    } else {
      *err = where + "lockout." + key->name + ": expected true or false";
      return false;
    }
  } else if (key->type == KeyType::kString) {
    v.type = Value::Type::kString;
    v.s = std::string(text);
  } else {
    v.type = Value::Type::kInt;
    auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), v.i);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      *err = where + "lockout." + key->name + ": expected an integer";
      return false;
    }
  }
  Config updated = *cfg;
  std::string reason;
  if (!config_internal::SetKey(*key, v, &updated, &reason)) {
    *err = where + reason;
    return false;
  }
  *cfg = std::move(updated);
  return true;
}

namespace {

// A TOML basic string. Every hidden code point (normalize.h: controls, C1,
// bidi and invisible format characters) is written as an escape, so that
// `config show` puts none of them on a terminal: a config without hooks or
// secrets may belong to a user.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    char32_t cp = c;  // An invalid byte (len 0) is copied as it is.
    const size_t len = DecodeUtf8(s, i, &cp);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += s[i];
    } else if (len > 0 && IsHiddenCodePoint(cp)) {
      char buf[16];
      snprintf(buf, sizeof(buf), cp > 0xFFFF ? "\\U%08X" : "\\u%04X",
               static_cast<unsigned>(cp));
      out += buf;
      i += len - 1;
    } else {
      out += s[i];
    }
  }
  return out + "\"";
}

template <typename T, typename F>
std::string List(const std::vector<T>& items, F format) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += format(items[i]);
  }
  return out + "]";
}

std::string Bool(bool b) { return b ? "true" : "false"; }

}  // namespace

std::string DumpConfig(const Config& c) {
  const auto str = [](const std::string& s) { return Quote(s); };
  const auto cidr = [](const Cidr& n) { return Quote(n.ToString()); };
  const auto num = [](int64_t i) { return std::to_string(i); };
  std::string o;
  o += "# effective configuration from " + EscapeForDisplay(c.source) + "\n";
  o += "[lockout]\n";
  o += "failure_limit = " + num(c.failure_limit) + "\n";
  o += "failure_limit_user = " + num(c.FailureLimitUser()) + "\n";
  o += "failure_limit_host = " + num(c.FailureLimitHost()) + "\n";
  o += "by_user_and_host = " + Bool(c.by_user_and_host) + "\n";
  o += "disable_user_lockout = " + Bool(c.disable_user_lockout) + "\n";
  o += "disable_host_lockout = " + Bool(c.disable_host_lockout) + "\n";
  o += "cooloff_time = " + num(c.cooloff_time) + "\n";
  o += "attempt_cooloff_time = " + num(c.AttemptCooloff()) + "\n";
  o += "lockout_cooloff_time = " + List(c.LockoutCooloffs(), num) + "\n";
  o += "even_deny_root = " + Bool(c.even_deny_root) + "\n";
  o += "remember_hosts_days = " + num(c.remember_hosts_days) + "\n";
  o += "failure_limit_pair = " + num(c.FailureLimitPair()) + "\n";
  o += "fold_username_case = " + Bool(c.fold_username_case) + "\n";
  o += "ipv6_prefix = " + num(c.ipv6_prefix) + "\n";
  o += "allow_users = " + List(c.allow_users, str) + "\n";
  o += "allow_hosts = " + List(c.allow_hosts, cidr) + "\n";
  o += "deny_hosts = " + List(c.deny_hosts, cidr) + "\n";
  o += "lockout_message = " + Quote(c.lockout_message) + "\n";
  o += "permanent_lockout_message = " + Quote(c.permanent_lockout_message) +
       "\n";
  o += "host_lockout_message = " + Quote(c.host_lockout_message) + "\n";
  o += "mode = " + Quote(c.report_only ? "report" : "enforce") + "\n";
  o += "\n[store]\n";
  o += "backend = " + Quote(BackendName(c.backend)) + "\n";
  o += "dir = " + Quote(c.dir) + "\n";
  o += "key_prefix = " + Quote(c.key_prefix) + "\n";
  o += "\n[redis]\n";
  o += "url = " + Quote(RedactUrl(c.redis_url)) + "\n";
  o += "password_file = " + Quote(c.redis_password_file) + "\n";
  o += "sentinels = " +
       List(c.redis_sentinels,
            [](const std::string& s) { return Quote(ShowHostPort(s)); }) +
       "\n";
  o += "sentinel_master = " + Quote(c.redis_sentinel_master) + "\n";
  o += "connect_timeout_ms = " + num(c.redis_connect_timeout_ms) + "\n";
  o += "command_timeout_ms = " + num(c.redis_command_timeout_ms) + "\n";
  o += "on_error = " + Quote(OnErrorName(c.redis_on_error)) + "\n";
  o += "\n[attempts]\n";
  o += "store = " + Bool(c.attempts_store) + "\n";
  o += "expiration_hours = " + num(c.attempts_expiration_hours) + "\n";
  o += "max_rows = " + num(c.attempts_max_rows) + "\n";
  o += "\n[hooks]\n";
  o += "on_block = " + List(c.on_block, str) + "\n";
  o += "on_unblock = " + List(c.on_unblock, str) + "\n";
  o += "timeout_seconds = " + num(c.hooks_timeout_seconds) + "\n";
  o += "\n[firewall]\n";
  o += "enabled = " + Bool(c.firewall_enabled) + "\n";
  o += "ports = " + List(c.firewall_ports, num) + "\n";
  o += "action = " + Quote(c.firewall_reject ? "reject" : "drop") + "\n";
  o += "table = " + Quote(c.firewall_table) + "\n";
  o += "resync_seconds = " + num(c.firewall_resync_seconds) + "\n";
  o += "max_elements = " + num(c.firewall_max_elements) + "\n";
  return o;
}

}  // namespace defender
