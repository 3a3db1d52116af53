// The compiled configuration (doc/DESIGN.md §11.1) through the real libpam:
// a broken config after a valid one keeps the last valid limits enforced
// and logs once a minute; with no valid config ever the documented
// fail-open / fail_closed rule; edits take effect on the next login; a
// snapshot or plugin that is not trusted is not used. Needs root (chown).
#include <dlfcn.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <security/pam_appl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/config_build_tag.h"
#include "common/config_snapshot.h"
#include "common/config_snapshot_file.h"
#include "common/format.h"
#include "harness.h"

namespace hardening {
namespace {

constexpr int64_t kT0 = 1'800'000'000;
constexpr char kTypo[] = "configuration error in ";

std::string StateDir() {
  const char* dir = getenv("PAM_DEFENDER_TEST_STATEDIR");
  REQUIRE(dir != nullptr);
  return dir;
}

int64_t Mtime(const std::string& path) {
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_mtim.tv_sec;
}

// alice fails once from the default host.
int Fail(const Env& env) { return RunLogin(env, Login()).auth; }

int LogCount(const std::string& needle) {
  int n = 0;
  for (const std::string& line : CapturedLog()) {
    n += line.find(needle) != std::string::npos;
  }
  return n;
}

// A private copy of the test module with its own plugin directory, for the
// cases that break the plugin (the build's copy is shared by parallel
// tests). Returns the module path.
std::string CopyModule(const Env& env) {
  const std::string plugin_dir = env.dir() + "/lib/pam_defender.d";
  REQUIRE(mkdir((env.dir() + "/lib").c_str(), 0755) == 0);
  REQUIRE(mkdir(plugin_dir.c_str(), 0755) == 0);
  const std::string module = env.dir() + "/lib/pam_defender_testclock.so";
  const std::string built = ModulePath();
  REQUIRE(Run({"/bin/cp", built, module}) == 0);
  REQUIRE(Run({"/bin/cp",
               built.substr(0, built.rfind('/')) + "/pam_defender.d/config.so",
               plugin_dir + "/config.so"}) == 0);
  return module;
}

TEST_CASE("a typo after a valid config: the old limits, one error a minute") {
  SetNow(kT0);
  Env env("[lockout]\nfailure_limit = 2\n");
  CHECK(Fail(env) == PAM_AUTH_ERR);
  CHECK(Failures(env.db(), "user", "alice") == 1);
  const int64_t valid_mtime = Mtime(env.conf());
  env.SetConfig("[lockout]\nfailure_limt = 4\n");
  ClearLog();
  CHECK(Fail(env) == PAM_AUTH_ERR);
  CHECK(Failures(env.db(), "user", "alice") == 2);
  const std::string line = kTypo + env.conf() +
                           ":5: lockout.failure_limt: unknown key; enforcing "
                           "the last valid configuration from " +
                           defender::FormatIso8601(valid_mtime);
  CHECK(LogCount(line) == 1);
  CHECK(LogCount(kTypo) == 1);
  // The third failure blocks under failure_limit = 2, as it would have with
  // the valid file; alice's right password is then refused.
  CHECK(Fail(env) == PAM_AUTH_ERR);
  CHECK(FindSubject(env.db(), "user", "alice")->blocked == 1);
  Login right;
  right.password = "secret";
  CHECK(RunLogin(env, right).auth == PAM_AUTH_ERR);
  CHECK(LogCount(kTypo) == 1);  // Within the minute: logged once.
  defender::testing::SetNow(kT0 + 59);
  CHECK(RunLogin(env, right).auth == PAM_AUTH_ERR);
  CHECK(LogCount(kTypo) == 1);
  defender::testing::SetNow(kT0 + 60);
  CHECK(RunLogin(env, right).auth == PAM_AUTH_ERR);
  CHECK(LogCount(kTypo) == 2);
  CHECK(LogCount(line) == 2);
}

TEST_CASE("no valid config ever: PAM_IGNORE, or fail_closed refuses") {
  SetNow(kT0);
  Env env("[lockout]\nfailure_limt = 1\n");
  ClearLog();
  CHECK(CallStep(env, false, "preauth", Login()) == PAM_IGNORE);
  CHECK(CallStep(env, false, "preauth fail_closed", Login()) == PAM_AUTH_ERR);
  CHECK(CallStep(env, true, "enforce", Login()) == PAM_IGNORE);
  CHECK(LogHas("configuration error: " + env.conf() +
               ":5: lockout.failure_limt: unknown key"));
  CHECK(LogCount(kTypo) == 0);
  for (int i = 0; i < 3; ++i) CHECK(Fail(env) == PAM_AUTH_ERR);
  CHECK_FALSE(Exists(env.db()));  // Nothing counted.
}

// Any file the parser accepts compiles to a snapshot the module can use.
// An address list's entry takes up to twice its bytes compiled ("::" is
// "::/128" and a length): here 655 KB of TOML are 1.3 MB of snapshot,
// which the module once could not write, and then enforced nothing
// (PAM_IGNORE) while `config check` said OK.
TEST_CASE("a configuration whose snapshot is larger than the file") {
  SetNow(kT0);
  std::string any, hosts = "\"192.0.2.66\"";
  for (size_t i = 1; i < defender::kMaxListEntries; ++i) {
    any += "\"::\",";
    hosts += ",\"::\"";
  }
  Env env("[lockout]\nallow_hosts = [" + any + "\"::\"]\ndeny_hosts = [" +
          hosts + "]\n");
  ClearLog();
  Login right;
  right.password = "secret";
  right.rhost = "192.0.2.66";
  CHECK(RunLogin(env, right).auth == PAM_AUTH_ERR);  // deny_hosts.
  right.rhost = "192.0.2.67";
  CHECK(RunLogin(env, right).auth == PAM_SUCCESS);
  CHECK_MESSAGE(LogCount("configuration error") == 0, LogText());
  struct stat st;
  REQUIRE(stat(defender::ConfigSnapshotPath(StateDir(), env.conf()).c_str(),
               &st) == 0);
  CHECK(st.st_size > (1 << 20));
  std::string err;
  defender::ConfigSnapshot snapshot;
  REQUIRE(defender::ReadConfigSnapshot(StateDir(), env.conf(), &snapshot,
                                       &err) == defender::SnapshotRead::kOk);
  CHECK(snapshot.config.allow_hosts.size() == defender::kMaxListEntries);
  CHECK(snapshot.config.deny_hosts.size() == defender::kMaxListEntries);
}

TEST_CASE("an edit takes effect on the next login: same size and mtime too") {
  SetNow(kT0);
  Env env("[lockout]\nfailure_limit = 1\n");
  CHECK(Fail(env) == PAM_AUTH_ERR);
  struct stat before;
  REQUIRE(stat(env.conf().c_str(), &before) == 0);
  // Same size, written in place, its mtime set back: only st_ctim differs.
  env.SetConfig("[lockout]\nfailure_limit = 9\n");
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  REQUIRE(utimensat(AT_FDCWD, env.conf().c_str(), times, 0) == 0);
  struct stat after;
  REQUIRE(stat(env.conf().c_str(), &after) == 0);
  REQUIRE(after.st_size == before.st_size);
  REQUIRE(after.st_ino == before.st_ino);
  CHECK(Fail(env) == PAM_AUTH_ERR);
  CHECK(Fail(env) == PAM_AUTH_ERR);
  // Under failure_limit = 1 the second failure would have blocked.
  CHECK(FindSubject(env.db(), "user", "alice")->blocked == 0);
  CHECK(Failures(env.db(), "user", "alice") == 3);

  // A new file renamed over it (a new inode): limit 3 blocks the fourth.
  const std::string next = env.dir() + "/next.toml";
  WriteFile(next, "[store]\ndir = \"" + env.dir() +
                      "/state\"\n\n[lockout]\nfailure_limit = 3\n");
  REQUIRE(rename(next.c_str(), env.conf().c_str()) == 0);
  CHECK(Fail(env) == PAM_AUTH_ERR);
  CHECK(FindSubject(env.db(), "user", "alice")->blocked == 1);
}

// A version changed in the second of the login (or the one before or
// after) is not compiled as the file's current version: a second edit in
// place, at the same size in the same tick of the file system's clock,
// would have the same identity, and that snapshot would hide the edit for
// good. It is still the last valid configuration when the file breaks.
TEST_CASE("a file changed in this second: parsed, not compiled, until older") {
  Env env("[lockout]\nfailure_limit = 1\n");
  struct stat st;
  REQUIRE(stat(env.conf().c_str(), &st) == 0);
  defender::ConfigSnapshot snapshot;
  std::string err;
  for (const int64_t now :
       {st.st_ctim.tv_sec - 1, st.st_ctim.tv_sec, st.st_ctim.tv_sec + 1}) {
    CAPTURE(now);
    SetNow(now);
    CHECK(Fail(env) == PAM_AUTH_ERR);
    snapshot = defender::ConfigSnapshot();
    REQUIRE(defender::ReadConfigSnapshot(StateDir(), env.conf(), &snapshot,
                                         &err) == defender::SnapshotRead::kOk);
    // The version, under an identity no file has.
    CHECK(snapshot.config.failure_limit == 1);
    CHECK_FALSE(snapshot.identity == defender::FileIdentity::Of(st));
    CHECK(snapshot.identity.ctime_nsec == -1);
  }
  // Still enforced: limit 1, so the second failure blocked.
  CHECK(FindSubject(env.db(), "user", "alice")->blocked == 1);
  // Two seconds on, the version is compiled as the file's.
  SetNow(st.st_ctim.tv_sec + 2);
  CHECK(Fail(env) == PAM_AUTH_ERR);
  snapshot = defender::ConfigSnapshot();
  REQUIRE(defender::ReadConfigSnapshot(StateDir(), env.conf(), &snapshot,
                                       &err) == defender::SnapshotRead::kOk);
  CHECK(snapshot.identity == defender::FileIdentity::Of(st));
  CHECK(snapshot.config.failure_limit == 1);
}

// A version changed after the step read its clock (a login stalled, or
// frozen by its user, between reading the time and the file; or a clock
// behind the file system's) is newer than the step's second, so just as
// likely to change again unseen: it is not compiled as the file's version.
TEST_CASE("a file changed after the step's time: not compiled as current") {
  Env env("[lockout]\nfailure_limit = 1\n");
  struct stat st;
  REQUIRE(stat(env.conf().c_str(), &st) == 0);
  for (const int64_t behind : {2, 5, 3600}) {
    CAPTURE(behind);
    SetNow(st.st_ctim.tv_sec - behind);
    CHECK(Fail(env) == PAM_AUTH_ERR);
    defender::ConfigSnapshot snapshot;
    std::string err;
    REQUIRE(defender::ReadConfigSnapshot(StateDir(), env.conf(), &snapshot,
                                         &err) == defender::SnapshotRead::kOk);
    CHECK(snapshot.config.failure_limit == 1);
    CHECK(snapshot.identity.ctime_nsec == -1);
  }
}

TEST_CASE("a version used only in its first second is the last valid one") {
  // A (limit 5) is compiled; B (limit 2) is used right after its edit;
  // then a typo. B, not A, is enforced.
  SetNow(kT0);
  Env env("[lockout]\nfailure_limit = 5\n");
  CHECK(Fail(env) == PAM_AUTH_ERR);
  env.SetConfig("[lockout]\nfailure_limit = 2\n");
  struct stat st;
  REQUIRE(stat(env.conf().c_str(), &st) == 0);
  SetNow(st.st_ctim.tv_sec);
  CHECK(Fail(env) == PAM_AUTH_ERR);
  CHECK(FindSubject(env.db(), "user", "alice")->blocked == 0);
  env.SetConfig("[lockout]\nfailure_limit = two\n");
  SetNow(st.st_ctim.tv_sec + 1);
  ClearLog();
  CHECK(Fail(env) == PAM_AUTH_ERR);
  // The third failure: above B's limit, within A's.
  CHECK(FindSubject(env.db(), "user", "alice")->blocked == 1);
  CHECK(LogCount(kTypo) == 1);
}

TEST_CASE(
    "a snapshot that is garbage, a symlink or group-writable is not used") {
  SetNow(kT0);
  Env env("[lockout]\nfailure_limit = 1\n");
  CHECK(Fail(env) == PAM_AUTH_ERR);
  const std::string snapshot =
      defender::ConfigSnapshotPath(StateDir(), env.conf());
  std::string err;
  defender::ConfigSnapshot forged;
  REQUIRE(defender::ReadConfigSnapshot(StateDir(), env.conf(), &forged, &err) ==
          defender::SnapshotRead::kOk);
  // A snapshot of the current file's identity that would switch counting
  // off, written by someone else: never used; the file is parsed again.
  forged.config.disable_user_lockout = true;
  forged.config.disable_host_lockout = true;
  const std::string bytes = defender::EncodeConfigSnapshot(forged);
  struct Case {
    const char* name;
    int mode;
    bool symlink;
  };
  for (const Case c :
       {Case{"group-writable", 0620, false},
        Case{"world-writable", 0602, false}, Case{"a symlink", 0600, true}}) {
    CAPTURE(c.name);
    REQUIRE(unlink(snapshot.c_str()) == 0);
    if (c.symlink) {
      const std::string target = env.dir() + "/forged.snapshot";
      WriteFile(target, bytes, 0600);
      REQUIRE(symlink(target.c_str(), snapshot.c_str()) == 0);
    } else {
      WriteFile(snapshot, bytes, c.mode);
      REQUIRE(chmod(snapshot.c_str(), c.mode) == 0);
    }
    // Counting starts again: the record files go (the store recreates
    // the directory).
    REQUIRE(Run({"rm", "-rf", env.dir() + "/state/subjects"}) == 0);
    CHECK(Fail(env) == PAM_AUTH_ERR);
    CHECK(Fail(env) == PAM_AUTH_ERR);
    CHECK(FindSubject(env.db(), "user", "alice")->blocked == 1);
    // Replaced by a trusted snapshot of the file.
    defender::ConfigSnapshot now;
    REQUIRE(defender::ReadConfigSnapshot(StateDir(), env.conf(), &now, &err) ==
            defender::SnapshotRead::kOk);
    CHECK_FALSE(now.config.disable_user_lockout);
  }

  // Garbage and a broken file: no valid configuration (the no-config rule).
  WriteFile(snapshot, "garbage", 0600);
  env.SetConfig("[lockout]\nfailure_limt = 1\n");
  ClearLog();
  CHECK(CallStep(env, false, "preauth", Login()) == PAM_IGNORE);
  CHECK(CallStep(env, false, "preauth fail_closed", Login()) == PAM_AUTH_ERR);
  CHECK(LogHas("configuration error: " + env.conf() +
               ":5: lockout.failure_limt: unknown key (no last valid "
               "configuration: " +
               snapshot + ": bad configuration snapshot: not a snapshot)"));
}

// An upgrade replaces the plugin while a process (a long-lived PAM user)
// keeps the older module: the plugin of another build has no entry point
// of this build's name, so its answer is never decoded with another
// format's rules; the module keeps enforcing its own last valid
// configuration and says why. The other build is this plugin with its tag
// replaced in the copy (the entry point's name, all the module looks up).
TEST_CASE("a plugin of another build: the last valid configuration, and why") {
  SetNow(kT0);
  Env env("[lockout]\nfailure_limit = 1\n");
  const std::string module = CopyModule(env);
  const std::string plugin = env.dir() + "/lib/pam_defender.d/config.so";
  env.WriteService(
      "login", defender::testing::StandardStack(module, "conf=" + env.conf(),
                                                env.dir() + "/passdb"));
  CHECK(Fail(env) == PAM_AUTH_ERR);
  const std::string tag = DEFENDER_CONFIG_BUILD_TAG;
  const std::string other_tag = "0123456789abcdef";
  REQUIRE(tag != other_tag);
  std::string bytes = defender::testing::ReadFile(plugin);
  int replaced = 0;
  for (size_t at = bytes.find(tag); at != std::string::npos;
       at = bytes.find(tag, at)) {
    bytes.replace(at, tag.size(), other_tag);
    ++replaced;
  }
  REQUIRE(replaced >= 1);
  defender::testing::WriteFile(plugin + ".new", bytes, 0755);
  REQUIRE(rename((plugin + ".new").c_str(), plugin.c_str()) == 0);
  env.SetConfig("[lockout]\nfailure_limit = 7\n");
  ClearLog();
  // failure_limit = 1 still holds: the second failure blocks.
  CHECK(Fail(env) == PAM_AUTH_ERR);
  CHECK(FindSubject(env.db(), "user", "alice")->blocked == 1);
  CHECK(LogCount(kTypo + std::string("configuration parser ") + plugin +
                 ": from another build of pam_defender (no "
                 "defender_config_compile_" +
                 tag +
                 ": an upgrade is under way, or this process kept an older "
                 "module loaded across one and must be restarted); enforcing "
                 "the last valid configuration from ") == 1);
  defender::ConfigSnapshot snapshot;
  std::string err;
  REQUIRE(defender::ReadConfigSnapshot(StateDir(), env.conf(), &snapshot,
                                       &err) == defender::SnapshotRead::kOk);
  CHECK(snapshot.config.failure_limit == 1);
}

// The first logins after an upgrade: the new build has compiled no
// snapshot yet, and the file is invalid at that moment (or the new module
// meets the old plugin while dpkg unpacks). The last valid configuration
// is the one the older build compiled (a tagged name, or the untagged one
// of the releases before tags): counting and blocking go on, with the
// error logged; nothing falls to the no-config rule.
TEST_CASE("after an upgrade, an invalid file: the older build's snapshot") {
  for (const std::string old_name :
       {".0123456789abcdef.snapshot", ".snapshot"}) {
    CAPTURE(old_name);
    SetNow(kT0);
    Env env("[lockout]\nfailure_limit = 1\n");
    CHECK(Fail(env) == PAM_AUTH_ERR);
    const std::string ours =
        defender::ConfigSnapshotPath(StateDir(), env.conf());
    const std::string older = ours.substr(0, ours.size() - 26) + old_name;
    REQUIRE(rename(ours.c_str(), older.c_str()) == 0);
    env.SetConfig("[lockout]\nfailure_limt = 4\n");
    ClearLog();
    CHECK(CallStep(env, false, "preauth fail_closed", Login()) == PAM_SUCCESS);
    CHECK(Fail(env) == PAM_AUTH_ERR);
    CHECK(FindSubject(env.db(), "user", "alice")->blocked == 1);
    CHECK(LogCount(kTypo + env.conf() +
                   ":5: lockout.failure_limt: unknown key; enforcing the last "
                   "valid configuration from ") == 1);
    CHECK_FALSE(Exists(ours));  // Nothing valid to compile.
    REQUIRE(unlink(older.c_str()) == 0);
  }
}

TEST_CASE(
    "the plugin: unused while the snapshot matches; missing or untrusted") {
  SetNow(kT0);
  Env env("[lockout]\nfailure_limit = 1\n");
  const std::string module = CopyModule(env);
  const std::string plugin = env.dir() + "/lib/pam_defender.d/config.so";
  const std::string passdb = env.dir() + "/passdb";
  env.WriteService("login", defender::testing::StandardStack(
                                module, "conf=" + env.conf(), passdb));
  CHECK(Fail(env) == PAM_AUTH_ERR);
  REQUIRE(unlink(plugin.c_str()) == 0);
  // The snapshot matches: no plugin needed, the limit holds.
  ClearLog();
  CHECK(Fail(env) == PAM_AUTH_ERR);
  CHECK(FindSubject(env.db(), "user", "alice")->blocked == 1);
  CHECK(LogCount(kTypo) == 0);
  // The file changed and cannot be parsed: the last valid one, and why.
  env.SetConfig("[lockout]\nfailure_limit = 7\n");
  ClearLog();
  CHECK(Fail(env) == PAM_AUTH_ERR);
  CHECK(LogCount(kTypo + std::string("configuration parser ") + plugin +
                 ": No such file or directory; enforcing the last valid "
                 "configuration from ") == 1);

  // A fresh config path: no snapshot, so the no-config rule.
  Env fresh("[lockout]\nfailure_limit = 1\n");
  const std::string fresh_module = CopyModule(fresh);
  const std::string fresh_plugin =
      fresh.dir() + "/lib/pam_defender.d/config.so";
  fresh.WriteService("login", defender::testing::StandardStack(
                                  fresh_module, "conf=" + fresh.conf(),
                                  fresh.dir() + "/passdb"));
  REQUIRE(chmod(fresh_plugin.c_str(), 0775) == 0);
  ClearLog();
  for (int i = 0; i < 3; ++i) CHECK(Fail(fresh) == PAM_AUTH_ERR);
  CHECK_FALSE(Exists(fresh.db()));
  CHECK(LogHas("configuration error: configuration parser " + fresh_plugin +
               ": untrusted (must be a regular file owned by root and not "
               "writable by group or others)"));
  REQUIRE(chmod(fresh_plugin.c_str(), 0755) == 0);
  REQUIRE(chmod((fresh.dir() + "/lib/pam_defender.d").c_str(), 0775) == 0);
  ClearLog();
  CHECK(Fail(fresh) == PAM_AUTH_ERR);
  CHECK(LogHas("configuration error: configuration parser " + fresh.dir() +
               "/lib/pam_defender.d: untrusted (must be owned by root and "
               "not writable by group or others)"));
  REQUIRE(chmod((fresh.dir() + "/lib/pam_defender.d").c_str(), 0755) == 0);
  CHECK(Fail(fresh) == PAM_AUTH_ERR);
  CHECK(Failures(fresh.db(), "user", "alice") == 1);

  // A plugin the loader refuses: the loader's reason is logged (nothing may
  // run between the failed dlopen and dlerror, which would clear it).
  const std::string garbage = fresh_plugin + ".new";
  const int fd = open(garbage.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0755);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, "not an ELF object\n", 18) == 18);
  REQUIRE(close(fd) == 0);
  REQUIRE(rename(garbage.c_str(), fresh_plugin.c_str()) == 0);
  fresh.SetConfig("[lockout]\nfailure_limit = 5\n");
  ClearLog();
  CHECK(Fail(fresh) == PAM_AUTH_ERR);
  CHECK(LogHas("configuration parser " + fresh_plugin + ": " + fresh_plugin +
               ": file too short; enforcing the last valid configuration"));
}

// One preauth step of a setuid caller (real uid nobody, effective root, as
// in su) on the module's entry point, with every descriptor below
// RLIMIT_NOFILE (1024, the guard's floor, so it raises nothing) in use but
// `free_fds`, as a user who runs su with descriptors of their own open
// leaves them. Returns the step's result (-1 if the setup failed) and sets
// *log to what it logged.
int PreauthShortOfFds(const Env& env, int free_fds, std::string* log) {
  const std::string out = InChild([&]() -> std::string {
    void* lib = dlopen(ModulePath().c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) return "-1";
    using Fn = int (*)(pam_handle_t*, int, int, const char**);
    auto fn = reinterpret_cast<Fn>(dlsym(lib, "pam_sm_authenticate"));
    defender::testing::PamConversation talk;
    defender::testing::PamLogin login;
    login.service = "direct";
    login.user = "alice";
    login.rhost = "192.0.2.10";
    pam_handle_t* pamh =
        defender::testing::StartPam(env.confdir(), login, &talk);
    if (fn == nullptr || pamh == nullptr) return "-1";
    const std::string conf = "conf=" + env.conf();
    const char* argv[] = {"preauth", conf.c_str()};
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return "-1";
    rl.rlim_cur = 1024;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return "-1";
    std::vector<int> filler;
    for (int fd; (fd = open("/dev/null", O_RDONLY)) >= 0;) filler.push_back(fd);
    for (int i = 0; i < free_fds && !filler.empty(); ++i) {
      close(filler.back());
      filler.pop_back();
    }
    if (setresuid(65534, static_cast<uid_t>(-1), static_cast<uid_t>(-1)) != 0)
      return "-1";
    ClearLog();
    const int rc = fn(pamh, 0, 2, argv);
    setresuid(0, static_cast<uid_t>(-1), static_cast<uid_t>(-1));
    for (int fd : filler) close(fd);
    pam_end(pamh, rc);
    return std::to_string(rc) + "\n" + LogText();
  });
  *log = out.substr(out.find('\n') + 1);
  return std::stoi(out);
}

// A user who runs su with all but a descriptor or two in use makes the
// module unable to open the parser (two descriptors at once) while it can
// still read a snapshot (one), and the password module after it can still
// read the password database. Process state a setuid caller controls must
// not switch counting off (SPEC item 15): such a step refuses; it neither
// takes the no-config rule (PAM_IGNORE: nothing checked or counted) nor
// enforces an older version than the file's.
#if defined(__SANITIZE_ADDRESS__)
// The sanitizers' own checks need descriptors of the process (UBSan's vptr
// check opens a pipe to test that memory is readable, and reports a bad
// object when it cannot): the case runs in the build without them.
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
TEST_CASE("a setuid caller short of descriptors: refused, never skipped" *
          doctest::skip(kSanitized)) {
  SetNow(kT0);
  for (int free_fds = 0; free_fds <= 3; ++free_fds) {
    CAPTURE(free_fds);
    // No snapshot yet (a new install, or a new conf= path).
    Env fresh("[lockout]\nfailure_limit = 1\n");
    std::string log;
    const int rc = PreauthShortOfFds(fresh, free_fds, &log);
    REQUIRE(rc != -1);
    CHECK_MESSAGE(rc != PAM_IGNORE, log);
    // A snapshot of an older version: report mode, which the admin just
    // turned off.
    Env edited("[lockout]\nfailure_limit = 1\nmode = \"report\"\n");
    CHECK(Fail(edited) == PAM_AUTH_ERR);
    edited.SetConfig("[lockout]\nfailure_limit = 1\n");
    SetNow(kT0 + 10);
    const int rc2 = PreauthShortOfFds(edited, free_fds, &log);
    REQUIRE(rc2 != -1);
    CHECK_MESSAGE(rc2 != PAM_IGNORE, log);
    CHECK_MESSAGE((rc2 == PAM_AUTH_ERR ||
                   log.find("enforcing the last valid") == std::string::npos),
                  log);
    SetNow(kT0);
  }
}

// A step killed while it writes a snapshot (its user can kill a su of
// their own through a delegated cgroup, at any point) leaves its temporary
// file. A writer removed only its own pid's, so each such kill left one for
// good (up to one per pid). The next whole write removes those of writers
// that are gone, not a live writer's. Here the kill comes at the
// snapshot's fsync (a seccomp filter in the child).
TEST_CASE("a writer killed mid-write: no temporary file is left for good") {
  SetNow(kT0);
  Env env("[lockout]\nfailure_limit = 5\n");
  const std::string dir = StateDir() + "/config";
  const std::string name = defender::ConfigSnapshotPath(StateDir(), env.conf())
                               .substr(dir.size() + 1);
  const auto tmp_files = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      const std::string f = e.path().filename();
      n += f.rfind(name + ".", 0) == 0 && f.ends_with(".tmp");
    }
    return n;
  };
  for (int i = 0; i < 5; ++i) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      struct sock_filter f[] = {
          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_fsync, 0, 1),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      };
      struct sock_fprog prog = {4, f};
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
          prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        _exit(3);
      }
      RunLogin(env, Login());
      _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));
  }
  CHECK(tmp_files() == 5);
  // A live writer's ("<pid>.<tid>": this test's parent is alive), a live
  // one of the previous release's ("<pid>"), and a name that is not a
  // writer's: they stay, the five dead writers' go.
  const std::string base = dir + "/" + name + ".";
  const std::string live = base + std::to_string(getppid()) + ".1.tmp";
  const std::string live_old = base + std::to_string(getppid()) + ".tmp";
  const std::string other = base + "x.tmp";
  for (const std::string& f : {live, live_old, other}) WriteFile(f, "", 0600);
  CHECK(tmp_files() == 8);
  CHECK(Fail(env) == PAM_AUTH_ERR);  // A whole write.
  CHECK(tmp_files() == 3);
  for (const std::string& f : {live, live_old, other}) {
    CHECK(Exists(f));
    REQUIRE(unlink(f.c_str()) == 0);
  }
}

}  // namespace
}  // namespace hardening

int main(int argc, char** argv) {
  return hardening::RunTests(argc, argv, /*needs_root=*/true);
}
