// The compiled configuration: codec (every key of the table round-trips,
// bad input is an error) and the snapshot files (trust checks, atomic
// write, the error-log rate limit).
#include "common/config_snapshot.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/config_build_tag.h"
#include "common/config_keys.h"
#include "common/config_snapshot_file.h"
#include "tests/support/files.h"

namespace defender {
namespace {

using config_internal::KeyDef;
using config_internal::KeyType;
using config_internal::Value;

bool Same(const Value& a, const Value& b) {
  return a.type == b.type && a.i == b.i && a.b == b.b && a.s == b.s &&
         a.ints == b.ints && a.strings == b.strings;
}

Value Ints(std::vector<int64_t> v) {
  Value out{Value::Type::kIntList};
  out.ints = std::move(v);
  return out;
}
Value Strings(std::vector<std::string> v) {
  Value out{Value::Type::kStringList};
  out.strings = std::move(v);
  return out;
}
Value String(std::string s) {
  Value out{Value::Type::kString};
  out.s = std::move(s);
  return out;
}

// Keys whose setter judges the value itself: a value it accepts that is not
// the default.
const std::map<std::string, Value>& SpecialValues() {
  static const std::map<std::string, Value> values = {
      {"lockout.allow_hosts", Strings({"10.0.0.0/8", "2001:db8::/32"})},
      {"lockout.deny_hosts", Strings({"192.0.2.1"})},
      {"store.backend", String("redis")},
      {"store.dir", String("/srv/defender")},
      // The older form, write-only: it sets dir to its directory (the same
      // value as above, so the order of the table does not matter).
      {"store.path", String("/srv/defender/x.db")},
      {"store.key_prefix", String("kp")},
      {"redis.url", String("redis://:pw@10.0.0.1:6380/2")},
      {"redis.password_file", String("/etc/defender/pw")},
      {"redis.sentinels", Strings({"10.0.0.2:26380", "[2001:db8::2]:26381"})},
      {"redis.on_error", String("closed")},
      {"hooks.on_block", Strings({"/usr/local/bin/on-block", "--all"})},
      {"hooks.on_unblock", Strings({"/usr/local/bin/on-unblock"})},
      {"lockout.mode", String("report")},
      {"firewall.action", String("reject")},
      {"firewall.table", String("pd_test")},
      {"firewall.ports", Ints({22, 2222})},
  };
  return values;
}

// A value of the key's type in its range that differs from `current`.
Value OtherValue(const KeyDef& key, const Config& defaults) {
  const std::string name = std::string(key.section) + "." + key.name;
  if (SpecialValues().count(name)) return SpecialValues().at(name);
  Value current;
  const bool set = key.Get(defaults, &current);
  Value v;
  switch (key.type) {
    case KeyType::kInt:
      v.type = Value::Type::kInt;
      v.i = key.min + 1;
      if (set && current.i == v.i) v.i = key.min + 2;
      return v;
    case KeyType::kBool:
      v.type = Value::Type::kBool;
      v.b = !(set && current.b);
      return v;
    case KeyType::kString:
      return String("non-default " + name + " \xc3\xa9");
    case KeyType::kStringList:
      return Strings({"a-" + name, "b"});
    case KeyType::kIntOrIntList:
      return Ints({key.min + 1, key.min + 7, 0});
    case KeyType::kIntList:
      return Ints({key.min + 1, key.min + 7});
  }
  return v;
}

// Every key of the table set to a value other than its default: a key the
// codec forgot, or a new key without a value here, fails.
Config EveryKeySet() {
  const Config defaults;
  Config c;
  for (const KeyDef& key : config_internal::Keys()) {
    std::string err;
    REQUIRE_MESSAGE(
        config_internal::SetKey(key, OtherValue(key, defaults), &c, &err),
        "add a non-default value for ", key.section, ".", key.name,
        " to SpecialValues(): ", err);
  }
  c.source = "/etc/security/every-key.toml";
  return c;
}

ConfigSnapshot Sample() {
  ConfigSnapshot s;
  s.conf_path = "/etc/security/every-key.toml";
  s.identity = {11, 22, 333, 1700000000, 123456789, 1700000001, 987654321};
  s.config = EveryKeySet();
  return s;
}

TEST_CASE("snapshot: every key of the table round-trips") {
  const ConfigSnapshot in = Sample();
  const Config defaults;
  ConfigSnapshot out;
  std::string err;
  REQUIRE_MESSAGE(DecodeConfigSnapshot(EncodeConfigSnapshot(in), &out, &err),
                  err);
  CHECK(out.conf_path == in.conf_path);
  CHECK(out.identity == in.identity);
  CHECK(out.config.source == in.config.source);
  for (const KeyDef& key : config_internal::Keys()) {
    const std::string name = std::string(key.section) + "." + key.name;
    CAPTURE(name);
    Value want, got, def;
    if (name == "store.path") {
      // Never read back: store.dir carries it (checked as its own key).
      CHECK_FALSE(key.Get(in.config, &want));
      CHECK_FALSE(key.Get(out.config, &got));
      CHECK(out.config.dir == "/srv/defender");
      continue;
    }
    REQUIRE(key.Get(in.config, &want));
    REQUIRE(key.Get(out.config, &got));
    CHECK(Same(want, got));
    // The sample really moved every key away from its default.
    CHECK_FALSE((key.Get(defaults, &def) && Same(def, want)));
  }
  CHECK(DumpConfig(out.config) == DumpConfig(in.config));
}

TEST_CASE("key table: an entry, or a copy of it, sets and reads its key") {
  const KeyDef* key = config_internal::FindKey("lockout", "failure_limit");
  REQUIRE(key != nullptr);
  // The table holds no pointers (it needs no relocation at load): a key's
  // setter is found by its index, which a copy keeps.
  const KeyDef copy = *key;
  Config cfg;
  Value v{Value::Type::kInt};
  v.i = 7;
  Value out;
  std::string err;
  CHECK(copy.Set(&cfg, v, &err));
  CHECK(cfg.failure_limit == 7);
  REQUIRE(copy.Get(cfg, &out));
  CHECK(out.i == 7);
  v.i = 8;
  CHECK(key->Set(&cfg, v, &err));
  CHECK(cfg.failure_limit == 8);
  // Each entry's index is its place; the last one reaches the last key.
  const std::span<const KeyDef> keys = config_internal::Keys();
  for (size_t i = 0; i < keys.size(); ++i) CHECK(keys[i].index == i);
  CHECK(std::string(keys.back().section) + "." + keys.back().name ==
        "firewall.max_elements");
  Value max{Value::Type::kInt};
  max.i = 1234;
  CHECK(keys.back().Set(&cfg, max, &err));
  CHECK(cfg.firewall_max_elements == 1234);
  // An index past the table is no key: an error, nothing set or read.
  KeyDef bogus = keys.back();
  bogus.index = static_cast<uint8_t>(keys.size());
  max.i = 99;
  CHECK_FALSE(bogus.Set(&cfg, max, &err));
  CHECK(err == "not a key of the table");
  CHECK(cfg.firewall_max_elements == 1234);
  CHECK_FALSE(bogus.Get(cfg, &out));
}

TEST_CASE("snapshot: unset optional keys stay unset (derived defaults)") {
  ConfigSnapshot in;
  in.config.failure_limit = 9;
  ConfigSnapshot out;
  std::string err;
  REQUIRE(DecodeConfigSnapshot(EncodeConfigSnapshot(in), &out, &err));
  CHECK_FALSE(out.config.failure_limit_user.has_value());
  CHECK(out.config.FailureLimitUser() == 9);
  CHECK_FALSE(out.config.lockout_cooloff_time.has_value());
}

TEST_CASE("snapshot: garbage, other versions, truncation are errors") {
  const std::string good = EncodeConfigSnapshot(Sample());
  ConfigSnapshot out;
  std::string err;
  CHECK_FALSE(DecodeConfigSnapshot("", &out, &err));
  CHECK(err == "bad configuration snapshot: not a snapshot");
  CHECK_FALSE(DecodeConfigSnapshot(std::string(100, 'x'), &out, &err));
  CHECK(err == "bad configuration snapshot: not a snapshot");

  std::string other = good;
  other[8] = 2;  // Format version 2.
  CHECK_FALSE(DecodeConfigSnapshot(other, &out, &err));
  CHECK(err == "bad configuration snapshot: format version 2, expected 1");

  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x20;
  CHECK_FALSE(DecodeConfigSnapshot(flipped, &out, &err));
  CHECK(err == "bad configuration snapshot: checksum mismatch");

  CHECK_FALSE(DecodeConfigSnapshot(good + "x", &out, &err));
  CHECK(err == "bad configuration snapshot: truncated or too long");
  for (size_t n = 0; n < good.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(DecodeConfigSnapshot(good.substr(0, n), &out, &err));
  }
}

TEST_CASE("snapshot: values pass the key's checks when decoded") {
  ConfigSnapshot in;
  in.config.failure_limit = -5;  // Never accepted by the parser.
  ConfigSnapshot out;
  std::string err;
  CHECK_FALSE(DecodeConfigSnapshot(EncodeConfigSnapshot(in), &out, &err));
  CHECK(err ==
        "bad configuration snapshot: lockout.failure_limit: value -5 out of "
        "range (0-1000000)");
}

TEST_CASE("snapshot file: written 0600 in a 0700 directory, read back") {
  testing::TempDir dir;
  const std::string statedir = dir / "state";
  const ConfigSnapshot in = Sample();
  std::string err;
  REQUIRE_MESSAGE(WriteConfigSnapshot(statedir, in, &err), err);
  const std::string file = ConfigSnapshotPath(statedir, in.conf_path);
  // <statedir>/config/<16 hex digits>.<the build's tag>.snapshot.
  const std::string name = file.substr(file.rfind('/') + 1);
  CHECK(file == statedir + "/config/" + name);
  CHECK(name.size() == 16 + 1 + 16 + 9);
  CHECK(name.find_first_not_of("0123456789abcdef") == 16);
  CHECK(name.substr(16) ==
        std::string(".") + DEFENDER_CONFIG_BUILD_TAG + ".snapshot");
  CHECK(std::string_view(DEFENDER_CONFIG_BUILD_TAG)
            .find_first_not_of("0123456789abcdef") == std::string_view::npos);
  struct stat st;
  REQUIRE(stat((statedir + "/config").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  ConfigSnapshot out;
  REQUIRE(ReadConfigSnapshot(statedir, in.conf_path, &out, &err) ==
          SnapshotRead::kOk);
  CHECK(DumpConfig(out.config) == DumpConfig(in.config));
  CHECK(ReadConfigSnapshot(statedir, "/etc/other.toml", &out, &err) ==
        SnapshotRead::kAbsent);
  CHECK(ReadConfigSnapshot(dir / "none", in.conf_path, &out, &err) ==
        SnapshotRead::kAbsent);
  // No temporary file is left behind.
  CHECK(testing::ReadFile(file + "." + std::to_string(getpid()) + "." +
                          std::to_string(gettid()) + ".tmp") == "");
}

// After an upgrade, a process that kept the older module loaded and the new
// module share the state directory: each build reads and replaces only the
// snapshot of its own format, so neither takes the other's last valid
// configuration away.
TEST_CASE(
    "snapshot file: another build's snapshot is neither read nor "
    "replaced") {
  testing::TempDir dir;
  const std::string statedir = dir / "state";
  const ConfigSnapshot in = Sample();
  std::string err;
  REQUIRE_MESSAGE(WriteConfigSnapshot(statedir, in, &err), err);
  const std::string ours = ConfigSnapshotPath(statedir, in.conf_path);
  const std::string other =
      ours.substr(0, ours.size() - 26) + ".0123456789abcdef.snapshot";
  REQUIRE(other != ours);
  REQUIRE(other.size() == ours.size());
  testing::WriteFile(other, "another build's format", 0600);
  ConfigSnapshot out;
  REQUIRE(ReadConfigSnapshot(statedir, in.conf_path, &out, &err) ==
          SnapshotRead::kOk);
  CHECK(DumpConfig(out.config) == DumpConfig(in.config));
  REQUIRE_MESSAGE(WriteConfigSnapshot(statedir, in, &err), err);
  CHECK(testing::ReadFile(other) == "another build's format");
  REQUIRE(unlink(ours.c_str()) == 0);
  CHECK(ReadConfigSnapshot(statedir, in.conf_path, &out, &err) ==
        SnapshotRead::kAbsent);
}

// Two threads of one process (a threaded PAM server) writing the same
// file's snapshot at once: each write is whole and succeeds, and no
// temporary file is left (a temporary name of the process's alone let one
// thread remove or rename the other's half-written file).
TEST_CASE("snapshot file: threads of one process write it at once") {
  testing::TempDir dir;
  const std::string statedir = dir / "state";
  const ConfigSnapshot in = Sample();
  std::atomic<int> failed{0};
  std::string first_error;
  std::mutex m;
  const auto writer = [&] {
    for (int i = 0; i < 300; ++i) {
      std::string err;
      if (!WriteConfigSnapshot(statedir, in, &err)) {
        std::lock_guard<std::mutex> lock(m);
        if (failed++ == 0) first_error = err;
      }
    }
  };
  std::thread a(writer);
  std::thread b(writer);
  a.join();
  b.join();
  CHECK_MESSAGE(failed.load() == 0, first_error);
  ConfigSnapshot out;
  std::string err;
  REQUIRE(ReadConfigSnapshot(statedir, in.conf_path, &out, &err) ==
          SnapshotRead::kOk);
  CHECK(DumpConfig(out.config) == DumpConfig(in.config));
  int files = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(statedir + "/config")) {
    CHECK(e.path().extension() != ".tmp");
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("snapshot file: untrusted or garbage is not used") {
  testing::TempDir dir;
  const std::string statedir = dir / "state";
  const ConfigSnapshot in = Sample();
  std::string err;
  REQUIRE(WriteConfigSnapshot(statedir, in, &err));
  const std::string file = ConfigSnapshotPath(statedir, in.conf_path);
  ConfigSnapshot out;

  REQUIRE(chmod(file.c_str(), 0620) == 0);
  CHECK(ReadConfigSnapshot(statedir, in.conf_path, &out, &err) ==
        SnapshotRead::kBad);
  CHECK(err == file +
                   ": untrusted (must be a regular file owned by root and "
                   "not writable by group or others)");
  REQUIRE(chmod(file.c_str(), 0600) == 0);

  REQUIRE(chown(file.c_str(), 65534, 65534) == 0);
  CHECK(ReadConfigSnapshot(statedir, in.conf_path, &out, &err) ==
        SnapshotRead::kBad);
  REQUIRE(chown(file.c_str(), 0, 0) == 0);

  REQUIRE(chmod((statedir + "/config").c_str(), 0770) == 0);
  CHECK(ReadConfigSnapshot(statedir, in.conf_path, &out, &err) ==
        SnapshotRead::kBad);
  CHECK(err == statedir +
                   "/config: untrusted (must be owned by root and not "
                   "writable by group or others)");
  // Nor is one written there.
  CHECK_FALSE(WriteConfigSnapshot(statedir, in, &err));
  REQUIRE(chmod((statedir + "/config").c_str(), 0700) == 0);

  const std::string real = dir.Write("real.snapshot", testing::ReadFile(file));
  REQUIRE(unlink(file.c_str()) == 0);
  REQUIRE(symlink(real.c_str(), file.c_str()) == 0);
  CHECK(ReadConfigSnapshot(statedir, in.conf_path, &out, &err) ==
        SnapshotRead::kBad);
  // Written over atomically: the symlink is replaced, not followed.
  REQUIRE(WriteConfigSnapshot(statedir, in, &err));
  CHECK(ReadConfigSnapshot(statedir, in.conf_path, &out, &err) ==
        SnapshotRead::kOk);

  testing::WriteFile(file, "garbage", 0600);
  CHECK(ReadConfigSnapshot(statedir, in.conf_path, &out, &err) ==
        SnapshotRead::kBad);
  CHECK(err == file + ": bad configuration snapshot: not a snapshot");
}

TEST_CASE("snapshot file: the error log is claimed once per interval") {
  testing::TempDir dir;
  const std::string statedir = dir / "state";
  std::string err;
  REQUIRE(WriteConfigSnapshot(statedir, Sample(), &err));
  const std::string conf = Sample().conf_path;
  CHECK(ClaimConfigErrorLog(statedir, conf, 1000, 60));
  CHECK_FALSE(ClaimConfigErrorLog(statedir, conf, 1000, 60));
  CHECK_FALSE(ClaimConfigErrorLog(statedir, conf, 1059, 60));
  CHECK(ClaimConfigErrorLog(statedir, conf, 1060, 60));
  CHECK_FALSE(ClaimConfigErrorLog(statedir, conf, 1100, 60));
  // Another file has its own limit; a clock set back logs.
  CHECK(ClaimConfigErrorLog(statedir, "/etc/other.toml", 1100, 60));
  CHECK(ClaimConfigErrorLog(statedir, conf, 900, 60));
}

// An older module kept loaded across an upgrade logs its own error once a
// minute: that must not use up the turn of the current build's error.
TEST_CASE("snapshot file: each build has its own error-log turn") {
  testing::TempDir dir;
  const std::string statedir = dir / "state";
  std::string err;
  REQUIRE(WriteConfigSnapshot(statedir, Sample(), &err));
  const std::string conf = Sample().conf_path;
  const std::string snapshot = ConfigSnapshotPath(statedir, conf);
  const std::string hash = snapshot.substr(0, snapshot.size() - 26);
  testing::WriteFile(hash + ".0123456789abcdef.logged", "1000\n", 0600);
  CHECK(ClaimConfigErrorLog(statedir, conf, 1000, 60));
  CHECK(testing::ReadFile(hash + "." + DEFENDER_CONFIG_BUILD_TAG + ".logged") ==
        "1000\n");
  CHECK_FALSE(ClaimConfigErrorLog(statedir, conf, 1030, 60));
}

// After an upgrade the new build has no snapshot of its own yet: the last
// valid configuration is the newest one another build compiled (a tagged
// name, or the untagged name of the releases before tags) that decodes
// under this build's rules and names the file.
TEST_CASE("snapshot file: another build's snapshot as the last valid one") {
  testing::TempDir dir;
  const std::string statedir = dir / "state";
  ConfigSnapshot in = Sample();
  std::string err;
  REQUIRE_MESSAGE(WriteConfigSnapshot(statedir, in, &err), err);
  const std::string ours = ConfigSnapshotPath(statedir, in.conf_path);
  const std::string hash = ours.substr(0, ours.size() - 26);
  ConfigSnapshot out;
  // Only this build's own: none of another.
  CHECK(ReadOtherBuildsConfigSnapshot(statedir, in.conf_path, &out, &err) ==
        SnapshotRead::kAbsent);
  const auto set_mtime = [](const std::string& path, time_t sec) {
    const struct timespec times[2] = {{sec, 0}, {sec, 0}};
    REQUIRE(utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
  };
  const std::string old_tag = hash + ".0123456789abcdef.snapshot";
  const std::string untagged = hash + ".snapshot";
  REQUIRE(rename(ours.c_str(), old_tag.c_str()) == 0);
  set_mtime(old_tag, 2000);
  REQUIRE(in.config.failure_limit != 9);
  in.config.failure_limit = 9;
  REQUIRE(WriteConfigSnapshot(statedir, in, &err));
  REQUIRE(rename(ours.c_str(), untagged.c_str()) == 0);
  set_mtime(untagged, 1000);
  // Not snapshots of another build: a tag that is not 16 hex digits.
  testing::WriteFile(hash + ".0123456789ABCDEF.snapshot",
                     testing::ReadFile(untagged), 0600);
  // An older damaged one does not matter.
  const std::string damaged = hash + ".fedcba9876543210.snapshot";
  testing::WriteFile(damaged, "damaged", 0600);
  set_mtime(damaged, 500);
  REQUIRE(ReadConfigSnapshot(statedir, in.conf_path, &out, &err) ==
          SnapshotRead::kAbsent);
  REQUIRE(ReadOtherBuildsConfigSnapshot(statedir, in.conf_path, &out, &err) ==
          SnapshotRead::kOk);
  CHECK(out.config.failure_limit == Sample().config.failure_limit);
  // The newest wins.
  set_mtime(untagged, 3000);
  ConfigSnapshot newest;
  REQUIRE(ReadOtherBuildsConfigSnapshot(statedir, in.conf_path, &newest,
                                        &err) == SnapshotRead::kOk);
  CHECK(newest.config.failure_limit == 9);
  // Only the newest: when it cannot be used, no older one is (an untagged
  // file of a release long gone is no last valid configuration).
  set_mtime(damaged, 4000);
  ConfigSnapshot none;
  CHECK(ReadOtherBuildsConfigSnapshot(statedir, in.conf_path, &none, &err) ==
        SnapshotRead::kBad);
  CHECK(err == damaged + ": bad configuration snapshot: not a snapshot");
  // A snapshot of another file under this file's name is not this file's.
  ConfigSnapshot elsewhere = Sample();
  elsewhere.conf_path = "/etc/other.toml";
  testing::WriteFile(damaged, EncodeConfigSnapshot(elsewhere), 0600);
  set_mtime(damaged, 4000);
  CHECK(ReadOtherBuildsConfigSnapshot(statedir, in.conf_path, &none, &err) ==
        SnapshotRead::kBad);
  CHECK(err == damaged + ": made for another file");
  // Another file's are not this file's.
  ConfigSnapshot other;
  CHECK(ReadOtherBuildsConfigSnapshot(statedir, "/etc/other.toml", &other,
                                      &err) == SnapshotRead::kAbsent);
}

// The claim's lock is held by a process stopped or frozen meanwhile: the
// claim does not wait for it (every login would hang), it logs.
TEST_CASE("snapshot file: a held error-log lock is not waited for") {
  testing::TempDir dir;
  const std::string statedir = dir / "state";
  std::string err;
  REQUIRE(WriteConfigSnapshot(statedir, Sample(), &err));
  const std::string conf = Sample().conf_path;
  REQUIRE(ClaimConfigErrorLog(statedir, conf, 1000, 60));
  std::string logged;
  for (const auto& e :
       std::filesystem::recursive_directory_iterator(statedir)) {
    if (e.path().extension() == ".logged") logged = e.path();
  }
  REQUIRE(!logged.empty());
  const int holder = open(logged.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(holder >= 0);
  REQUIRE(flock(holder, LOCK_EX) == 0);
  const auto start = std::chrono::steady_clock::now();
  CHECK(ClaimConfigErrorLog(statedir, conf, 1001, 60));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  close(holder);
  CHECK_FALSE(ClaimConfigErrorLog(statedir, conf, 1002, 60));
}

}  // namespace
}  // namespace defender
