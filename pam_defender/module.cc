#include "pam_defender/module.h"

#include <pthread.h>
#include <pwd.h>
#include <security/pam_ext.h>
#include <signal.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/backend.h"
#include "common/clock.h"
#include "common/config.h"
#ifdef DEFENDER_TEST_CLOCK
#include "common/env_clock.h"
#endif
#include "common/format.h"
#include "common/hiredis_api.h"
#include "common/hooks.h"
#include "common/lazy_libc.h"
#include "common/login.h"
#include "common/normalize.h"
#include "common/policy.h"
#include "common/redis_conn.h"
#include "defender_build_config.h"
#include "pam_defender/args.h"
#include "pam_defender/module_config.h"
#include "pam_defender/process_guard.h"

namespace defender {
namespace {

// pam_set_data key: what the current authentication pass on this handle
// has done. preauth starts each pass (sudo, login and sshd retry on one
// handle) by clearing it. A refusal by preauth is remembered so that
// authfail does not count the refused attempt and authsucc refuses it too;
// a logged attempt is remembered so that the account step does not log the
// same attempt again; an attempt counted provisionally by preauth (setuid
// caller, module.h) is remembered so that authfail concludes it instead of
// counting it again.
constexpr char kStateKey[] = "pam_defender_state";
enum class HandleState : long {
  kNone = 0,
  kRefused = 1,
  kLogged = 2,
  kProvisional = 3,
};

HandleState GetState(pam_handle_t* pamh) {
  const void* data = nullptr;
  if (pam_get_data(pamh, kStateKey, &data) != PAM_SUCCESS || !data) {
    return HandleState::kNone;
  }
  return static_cast<HandleState>(reinterpret_cast<long>(data));
}

void SetState(pam_handle_t* pamh, HandleState s) {
  // The value is stored in the pointer itself: nothing to free.
  pam_set_data(pamh, kStateKey, reinterpret_cast<void*>(static_cast<long>(s)),
               nullptr);
}

// pam_set_data key: the subjects that this pass's provisional count
// (preauth under a setuid caller) went to, with their counters'
// generations, for the conclusion (Policy::Conclude, Policy::AuthSucc).
// Read only in a pass marked kProvisional, whose preauth replaced it.
// Absent when it counted nothing or could not be kept: the conclusion then
// counts on every subject (once too often, never too few). A list left from
// an earlier pass (replacing it failed) names counters that this pass's
// preauth counted on too, or that are gone. Setuid callers only, so these
// functions are kept out of the code every login runs (doc/DESIGN.md §7).
constexpr char kCountedKey[] = "pam_defender_counted";
using Counted = std::vector<ProvisionalCount>;

void FreeCounted(pam_handle_t*, void* data, int) {
  delete static_cast<Counted*>(data);
}

[[gnu::cold, gnu::noinline]] std::span<const ProvisionalCount> GetCounted(
    pam_handle_t* pamh) {
  const void* data = nullptr;
  if (pam_get_data(pamh, kCountedKey, &data) != PAM_SUCCESS || !data) {
    return {};
  }
  return *static_cast<const Counted*>(data);
}

// Keeps `counted` in the handle (none when empty), replacing what was
// kept. Never throws: memory running out keeps nothing.
[[gnu::cold, gnu::noinline]] void SetCounted(pam_handle_t* pamh,
                                             Counted&& counted) noexcept {
  Counted* c = counted.empty() ? nullptr
                               : new (std::nothrow) Counted(std::move(counted));
  if (pam_set_data(pamh, kCountedKey, c, c ? FreeCounted : nullptr) !=
      PAM_SUCCESS) {
    delete c;
  }
}

// The enforce account step of a login no authsucc logged (a key):
// Policy::KeyLoginAccount, and the log line when it could not remember the
// host. Kept out of the code every login runs (doc/DESIGN.md §7).
[[gnu::cold, gnu::noinline]] bool KeyLoginAccount(pam_handle_t* pamh,
                                                  Policy* policy,
                                                  const Login& login, bool log,
                                                  Decision* d,
                                                  std::string* err) {
  std::string why;
  if (!policy->KeyLoginAccount(login, log, d, &why, err)) return false;
  if (!why.empty()) {
    pam_syslog(pamh, LOG_WARNING, "host not remembered: %s",
               EscapeForDisplay(why).c_str());
  }
  return true;
}

// A setgid program, or one setuid to a user other than root: its user
// controls it (as under su), and it cannot use root's store or may not read
// the configuration. Such a program may read password hashes (a shadow-group
// one reads every user's), so allowing its attempts uncounted would give
// that user a password oracle: it is refused, whatever fail_closed says.
[[gnu::cold, gnu::noinline]] void LogNotRootCaller(pam_handle_t* pamh) {
  pam_syslog(pamh, LOG_ERR,
             "refusing: a setgid program, or one setuid to a user other than "
             "root, cannot use the store");
}

// pam_set_data keys for the Redis store: the connection reused by the steps
// of one PAM handle, and a flag set once this login has said in syslog that
// Redis was unavailable.
constexpr char kRedisKey[] = "pam_defender_redis";
constexpr char kRedisDownKey[] = "pam_defender_redis_down";

void FreeRedis(pam_handle_t*, void* data, int) {
  delete static_cast<RedisConnection*>(data);
}

// The handle's Redis connection for `settings`, made on first use. A
// connection made by another process (the handle was carried over a fork())
// or for other settings is never reused: it is replaced, which closes this
// process's copy of its socket. Returns nullptr if it cannot be kept (the
// Backend then opens its own).
RedisConnection* SharedRedis(pam_handle_t* pamh,
                             const RedisSettings& settings) {
  const void* data = nullptr;
  if (pam_get_data(pamh, kRedisKey, &data) == PAM_SUCCESS && data) {
    auto* c = static_cast<RedisConnection*>(const_cast<void*>(data));
    if (c->owner_pid() == lazy::getpid() && c->settings() == settings) return c;
  }
  auto* c = new RedisConnection(settings);
  if (pam_set_data(pamh, kRedisKey, c, FreeRedis) != PAM_SUCCESS) {
    delete c;
    return nullptr;
  }
  return c;
}

// pam_set_data key: the configuration loaded by an earlier step of this
// handle (module_config.h).
constexpr char kConfigKey[] = "pam_defender_config";

void FreeConfig(pam_handle_t*, void* data, int) {
  delete static_cast<ConfigCache*>(data);
}

// The handle's configuration cache, made on first use; nullptr if it
// cannot be kept.
ConfigCache* HandleConfigCache(pam_handle_t* pamh) {
  const void* data = nullptr;
  if (pam_get_data(pamh, kConfigKey, &data) == PAM_SUCCESS && data) {
    return static_cast<ConfigCache*>(const_cast<void*>(data));
  }
  auto* c = new ConfigCache;
  if (pam_set_data(pamh, kConfigKey, c, FreeConfig) != PAM_SUCCESS) {
    delete c;
    return nullptr;
  }
  return c;
}

// True the first time it is called for this handle.
bool FirstRedisComplaint(pam_handle_t* pamh) {
  const void* data = nullptr;
  if (pam_get_data(pamh, kRedisDownKey, &data) == PAM_SUCCESS && data) {
    return false;
  }
  static const char kSet = 1;
  pam_set_data(pamh, kRedisDownKey, const_cast<char*>(&kSet), nullptr);
  return true;
}

std::string HostName() {
  char name[256] = {};
  if (lazy::gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

#ifdef DEFENDER_TEST_CLOCK
// Test builds only (never installed): PAM_DEFENDER_TEST_NOW sets the time.
using ModuleClock = EnvClock;
#else
using ModuleClock = SystemClock;
#endif

// Where the compiled configuration is kept (doc/DESIGN.md §11.1). Test
// builds only (never installed): PAM_DEFENDER_TEST_STATEDIR moves it.
std::string StateDir() {
#ifdef DEFENDER_TEST_CLOCK
  if (const char* dir = getenv("PAM_DEFENDER_TEST_STATEDIR")) return dir;
#endif
  return DEFENDER_STATEDIR;
}

std::string Item(pam_handle_t* pamh, int type) {
  const void* value = nullptr;
  if (pam_get_item(pamh, type, &value) != PAM_SUCCESS || value == nullptr) {
    return "";
  }
  return static_cast<const char*>(value);
}

// The uid of the account named `user` (the system's user database), or
// (uid_t)-1 when there is none or it cannot be read. Only a setuid
// caller's local login asks (Step::Info).
uid_t UidOf(const std::string& user) {
  std::vector<char> buf(16 * 1024);
  for (;;) {
    struct passwd pw;
    struct passwd* found = nullptr;
    const int rc =
        lazy::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1 << 20)) {
      buf.resize(buf.size() * 4);
      continue;
    }
    return rc == 0 && found != nullptr ? pw.pw_uid : static_cast<uid_t>(-1);
  }
}

// What a refused attempt returns (the table in module.h): PAM_PERM_DENIED
// from the account step, PAM_AUTH_ERR from the auth steps.
int RefusedResult(bool account) {
  return account ? PAM_PERM_DENIED : PAM_AUTH_ERR;
}

// While it lives, the signals that end a process from outside are held
// (blocked, delivered when it ends): the terminal's ^C, ^\ and hangup under
// su, sshd's SIGTERM to its PAM process when the client goes, and the
// timers a caller can arm before it executes a setuid program (setitimer's
// SIGALRM, SIGVTALRM and SIGPROF survive execve, and the kernel sends them
// whatever the process's ids), with every other signal whose default
// action ends the process but for the synchronous faults. A step that can
// write a block or clear one holds them from before the store call to after
// the change is announced: one delivered in between left the change
// written and never announced (no syslog line, no hook). Each is delayed by
// the store call (at most its deadline) and the announcement (a syslog
// line, the hook's fork). SIGPIPE, SIGXFSZ and SIGXCPU, which a
// step's own writes or CPU time raise, are left to the Redis connection
// (redis_conn.h) and the process guard (process_guard.h).
class TerminationHeld {
 public:
  TerminationHeld() {
    sigset_t hold;
    sigemptyset(&hold);
    for (const int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGALRM, SIGVTALRM,
                          SIGPROF, SIGUSR1, SIGUSR2, SIGIO, SIGPWR}) {
      sigaddset(&hold, sig);
    }
#ifdef SIGSTKFLT
    sigaddset(&hold, SIGSTKFLT);
#endif
    // The real-time signals, 32 to _NSIG - 1 (their default ends the
    // process too); the C library refuses the two it keeps for itself.
    for (int sig = 32; sig < _NSIG; ++sig) sigaddset(&hold, sig);
    held_ = pthread_sigmask(SIG_BLOCK, &hold, &old_) == 0;
  }
  ~TerminationHeld() {
    if (held_) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  TerminationHeld(const TerminationHeld&) = delete;
  TerminationHeld& operator=(const TerminationHeld&) = delete;

 private:
  sigset_t old_;
  bool held_ = false;
};

class Step {
 public:
  // `secure`: the caller is privileged by exec (process_guard.h), run by
  // the user of uid `caller_uid` (ProcessGuard::caller_uid).
  Step(EntryPoint entry, pam_handle_t* pamh, int flags, bool secure,
       uid_t caller_uid)
      : entry_(entry),
        pamh_(pamh),
        flags_(flags),
        secure_(secure),
        caller_uid_(caller_uid) {}

  // Runs the step. From the moment the arguments are parsed, *fallback holds
  // the result to use should the step throw.
  int Run(int argc, const char** argv, int* fallback);

 private:
  // The error column of the table in module.h; `closed`: as with
  // fail_closed.
  int ErrorResult(bool closed) const;
  // What a refused attempt returns from this step.
  int RefusedResult() const {
    return defender::RefusedResult(args_.mode == Mode::kAccount);
  }
  // A store error fails closed under a setuid caller: the caller controls
  // the process, so a failure that could not be recorded must not leave
  // the next guess free.
  bool StoreFailsClosed() const { return args_.fail_closed || secure_; }
  int ConfigError(const std::string& err);
  int StoreError(const std::string& err);
  // A record's lock held past the timeout: the attempt is refused whatever
  // the failure policy (but in report mode), and a refusing preauth marks
  // the handle so that the later steps refuse without waiting again.
  int StoreBusy(const std::string& err);
  // A setuid caller's configuration that could not be compiled for want of
  // descriptors or memory: logged, and the step refused.
  [[gnu::cold, gnu::noinline]] int ConfigUnavailable(const std::string& err);
  // A store step that failed: what the store wrote before it failed (a
  // full disk) happened, so a block in *d is announced, and a provisional
  // count (`provisional`) is kept as this pass's, so that its conclusion
  // does not count it again; then the failure policy's result.
  [[gnu::cold, gnu::noinline]] int StepFailed(Decision* d,
                                              const std::string& service,
                                              bool provisional,
                                              bool lock_timed_out,
                                              const std::string& err);
  // Logs the decision's block and unblock events and starts their hooks.
  // `service`: the Login's. Most steps have no event: the test is made here
  // and the rest, AnnounceEvents, stays out of the code every login runs
  // (hot_functions.txt).
  void Announce(const Decision& d, const std::string& service) {
    if (!d.events.empty()) AnnounceEvents(d, service);
  }
  [[gnu::noinline]] void AnnounceEvents(const Decision& d,
                                        const std::string& service);
  void TellUser(const Decision& d);
  // The login's PAM items, normalised once (login.h) under cfg_.
  Login Info();

  // The configuration, once Run has loaded it.
  const Config& cfg() const { return *cfg_; }

  EntryPoint entry_;
  pam_handle_t* pamh_;
  int flags_;
  bool secure_;
  uid_t caller_uid_;
  ModuleArgs args_;
  // Shared with the handle's cache (module_config.h); copied only when the
  // module's arguments change it.
  std::shared_ptr<const Config> cfg_;
};

int Step::ErrorResult(bool closed) const {
  switch (args_.mode) {
    case Mode::kAuthFail:
      return PAM_AUTH_ERR;
    case Mode::kAuthSucc:
      return closed ? PAM_AUTH_ERR : PAM_SUCCESS;
    case Mode::kAccount:
      return closed ? PAM_PERM_DENIED : PAM_IGNORE;
    case Mode::kPreauth:
      break;
  }
  return closed ? PAM_AUTH_ERR : PAM_IGNORE;
}

int Step::ConfigError(const std::string& err) {
  pam_syslog(pamh_, LOG_ERR, "configuration error: %s",
             EscapeForDisplay(err).c_str());
  return ErrorResult(args_.fail_closed);
}

int Step::StoreError(const std::string& err) {
  if (cfg().report_only) {
    // Report mode refuses nothing, not even on a store error
    // (doc/DESIGN.md §3.16).
    pam_syslog(pamh_, LOG_ERR, "store unavailable (report mode: allowing): %s",
               EscapeForDisplay(err).c_str());
    return ErrorResult(false);
  }
  if (cfg().backend == StoreBackend::kRedis &&
      cfg().redis_on_error != OnError::kLocal) {
    // redis.on_error: "open" allows the attempt, "closed" refuses it.
    const bool open = cfg().redis_on_error == OnError::kOpen;
    if (FirstRedisComplaint(pamh_)) {
      pam_syslog(pamh_, LOG_ERR,
                 open ? "Redis store unavailable (on_error = open: allowing): "
                        "%s"
                      : "Redis store unavailable (on_error = closed: "
                        "refusing): %s",
                 EscapeForDisplay(err).c_str());
    }
    if (!open) return RefusedResult();
    return args_.mode == Mode::kAuthFail ? PAM_AUTH_ERR : PAM_SUCCESS;
  }
  const bool closed = StoreFailsClosed();
  pam_syslog(pamh_, LOG_ERR,
             !closed             ? "store unavailable (failing open): %s"
             : args_.fail_closed ? "store unavailable (failing closed): %s"
                                 : "store unavailable (failing closed: setuid "
                                   "caller): %s",
             EscapeForDisplay(err).c_str());
  return ErrorResult(closed);
}

int Step::StoreBusy(const std::string& err) {
  // Allowing an attempt that could not be counted would let a local user
  // who stops or freezes a setuid su while it holds a record's lock guess
  // that user's password uncounted: the attempt is refused instead, until
  // the holder runs again or is killed (doc/DESIGN.md §3.13).
  if (cfg().report_only) return StoreError(err);
  pam_syslog(pamh_, LOG_ERR,
             "store busy (failing closed: a record's lock is held): %s",
             EscapeForDisplay(err).c_str());
  if (args_.mode == Mode::kPreauth) SetState(pamh_, HandleState::kRefused);
  return RefusedResult();
}

Login Step::Info() {
  RawLoginItems raw;
  raw.service = Item(pamh_, PAM_SERVICE);
  if (entry_ == EntryPoint::kAuthenticate) {
    const char* user = nullptr;
    if (pam_get_user(pamh_, &user, nullptr) == PAM_SUCCESS && user) {
      raw.user = user;
    }
  } else {
    raw.user = Item(pamh_, PAM_USER);
  }
  raw.rhost = Item(pamh_, PAM_RHOST);
  raw.tty = Item(pamh_, PAM_TTY);
  raw.setuid_caller = secure_;
  raw.caller_is_user = secure_ && raw.rhost.empty() && !raw.user.empty() &&
                       caller_uid_ != static_cast<uid_t>(-1) &&
                       UidOf(raw.user) == caller_uid_;
  return NormalizeLogin(raw, cfg());
}

int Step::ConfigUnavailable(const std::string& err) {
  // The caller of a setuid program chose its descriptors: neither the
  // no-config rule (nothing checked or counted) nor an older version may
  // follow from that (SPEC item 15). A store error's rule: refused.
  pam_syslog(pamh_, LOG_ERR, "configuration unavailable (refusing): %s",
             EscapeForDisplay(err).c_str());
  return ErrorResult(/*closed=*/true);
}

int Step::StepFailed(Decision* d, const std::string& service, bool provisional,
                     bool lock_timed_out, const std::string& err) {
  if (provisional && !d->counted.empty()) {
    SetState(pamh_, HandleState::kProvisional);
    SetCounted(pamh_, std::move(d->counted));
  }
  Announce(*d, service);
  return lock_timed_out ? StoreBusy(err) : StoreError(err);
}

void Step::AnnounceEvents(const Decision& d, const std::string& service) {
  for (const Event& e : d.events) {
    const bool block = e.type == Event::Type::kBlock;
    const std::string length = !block ? ""
                               : e.until == 0
                                   ? " permanently"
                                   : " until " + FormatIso8601(e.until);
    // Every line the module logs is listed in pam_defender(8), LOG LINES
    // (tests/unit/log_lines_test.py checks it).
    pam_syslog(pamh_, LOG_NOTICE,
               !block              ? "unblocked %s %s%s after %lld failure(s)"
               : cfg().report_only ? "would block %s %s%s after %lld failure(s)"
                                   : "blocked %s %s%s after %lld failure(s)",
               KindName(e.subject.kind), DisplayName(e.subject.name).c_str(),
               length.c_str(), static_cast<long long>(e.failures));
    // Report mode runs no hook (doc/DESIGN.md §3.16): hooks act on blocks.
    if (cfg().report_only) continue;
    const std::vector<std::string>& hook =
        block ? cfg().on_block : cfg().on_unblock;
    std::string err;
    if (!hook.empty() &&
        !SpawnDetached(hook, HookEnvironment(e, service),
                       static_cast<int>(cfg().hooks_timeout_seconds), &err)) {
      pam_syslog(pamh_, LOG_ERR, "hook not started: %s",
                 EscapeForDisplay(err).c_str());
    }
  }
}

void Step::TellUser(const Decision& d) {
  // "user U from H", "user U" or "from H": one blank between the words.
  std::string who;
  if (d.who.user) who = "user " + DisplayName(*d.who.user);
  if (d.who.host) {
    who += who.empty() ? "from " : " from ";
    who += DisplayName(d.who.host->subject);
  }
  pam_syslog(pamh_, LOG_NOTICE,
             cfg().report_only ? "would refuse %s: %s" : "refused %s: %s",
             who.c_str(), EscapeForDisplay(d.reason).c_str());
  if (cfg().report_only || args_.silent || (flags_ & PAM_SILENT)) return;
  const bool host = d.refused_by && d.refused_by->kind == SubjectKind::kHost;
  const std::string text =
      RenderMessage(host          ? cfg().host_lockout_message
                    : d.permanent ? cfg().permanent_lockout_message
                                  : cfg().lockout_message,
                    d.failure_limit, d.remaining_seconds);
  pam_prompt(pamh_, PAM_TEXT_INFO, nullptr, "%s", text.c_str());
}

int Step::Run(int argc, const char** argv, int* fallback) {
  std::string err;
  if (!ParseModuleArgs(argc, argv, entry_ == EntryPoint::kAccount, &args_,
                       &err)) {
    return ConfigError(err);
  }
  *fallback = ErrorResult(StoreFailsClosed());
  if (args_.mode == Mode::kAccount && !args_.enforce) return PAM_SUCCESS;
  if (args_.mode == Mode::kPreauth) SetState(pamh_, HandleState::kNone);
  const HandleState state = GetState(pamh_);
  if (state == HandleState::kRefused) {
    return RefusedResult();
  }
  if (secure_ && geteuid() != 0) {
    LogNotRootCaller(pamh_);
    return ErrorResult(/*closed=*/true);
  }

  const ModuleClock clock;
  const bool default_conf = args_.conf.empty();
  const std::string conf =
      default_conf ? Config::kDefaultConfigPath : args_.conf;
  std::string fallback_error;
  bool process_fault = false;
  const bool loaded = LoadModuleConfig(
      conf, default_conf, StateDir(), clock.Now(), HandleConfigCache(pamh_),
      &cfg_, &fallback_error, &err, &process_fault);
  if (process_fault && secure_) return ConfigUnavailable(err);
  if (!loaded) return ConfigError(err);
  if (!fallback_error.empty()) {
    pam_syslog(pamh_, LOG_ERR, "%s", EscapeForDisplay(fallback_error).c_str());
  }
  if (!args_.overrides.empty()) {
    auto own = std::make_shared<Config>(*cfg_);
    for (const std::string& o : args_.overrides) {
      if (!ApplyOverride(o, own.get(), &err)) return ConfigError(err);
    }
    cfg_ = std::move(own);
  }

  const Login login = Info();
  BackendOptions options;
  options.redis_server_clock = clock.IsRealTime();
  if (cfg().backend == StoreBackend::kRedis) {
#ifdef DEFENDER_TEST_CLOCK
    // Test builds only: PAM_DEFENDER_TEST_HIREDIS names the library that
    // the Redis store loads (a missing one, to test that failure); unset,
    // the built soname again (the module stays loaded between handles).
    UseHiredisLibraryForTest(getenv("PAM_DEFENDER_TEST_HIREDIS"));
#endif
    options.service = login.service;
    options.origin_host = HostName();
    options.redis = SharedRedis(pamh_, RedisSettings::FromConfig(cfg()));
    options.local_fallback = true;
  }
  options.one_step = true;
  std::unique_ptr<Backend> backend = Backend::Open(cfg(), options, &err);
  if (!backend) return StoreError(err);
  Policy policy(cfg(), backend->store(), backend->log(), clock);
  const bool log = state != HandleState::kLogged;
  // Under a setuid caller preauth counts the attempt provisionally (module.h).
  const bool provisional = args_.mode == Mode::kPreauth && secure_;
  // A step that counts a failure can write a block, and a success can clear
  // one that did not refuse it (a blocked user's from an unblocked host in
  // by_user_and_host mode); the others (a refusal's preauth, the account
  // step) change no block and hold no signal.
  std::optional<TerminationHeld> held;
  if (provisional || args_.mode == Mode::kAuthFail ||
      args_.mode == Mode::kAuthSucc) {
    held.emplace();
  }
  Decision d;
  bool ok = false;
  if (args_.mode == Mode::kAccount ||
      (args_.mode == Mode::kPreauth && !provisional)) {
    // A login this handle's authsucc logged has remembered its host
    // already; any other was authenticated some other way (a key).
    ok = args_.mode == Mode::kAccount && state != HandleState::kLogged
             ? KeyLoginAccount(pamh_, &policy, login, log, &d, &err)
             : policy.Check(login, log, &d, &err);
  } else {
    // The store update commits on its own; the attempt goes to the journal
    // after it (doc/DESIGN.md §3.10).
    // What this pass's preauth counted, when it counted provisionally.
    const std::span<const ProvisionalCount> own =
        state == HandleState::kProvisional
            ? GetCounted(pamh_)
            : std::span<const ProvisionalCount>();
    if (provisional) {
      ok = policy.CountProvisionally(login, log, &d, &err);
    } else if (args_.mode == Mode::kAuthSucc) {
      ok = policy.AuthSucc(login, log, own, &d, &err);
    } else if (state == HandleState::kProvisional) {
      ok = policy.Conclude(login, log, own, &d, &err);
    } else {
      ok = policy.AuthFail(login, log, &d, &err);
    }
  }
  const std::string fallback_reason = backend->fallback_reason();
  const bool lock_timed_out = backend->lock_timed_out();
  backend.reset();
  if (!fallback_reason.empty() && FirstRedisComplaint(pamh_)) {
    pam_syslog(pamh_, LOG_WARNING,
               "Redis store unavailable, counting in the local store "
               "(on_error = local): %s",
               EscapeForDisplay(fallback_reason).c_str());
  }
  if (!ok) {
    return StepFailed(&d, login.service, provisional, lock_timed_out, err);
  }
  // The store has decided, and the handle is marked now: memory running
  // out in a log line or the message below must neither turn a refusal
  // into the failure policy's result nor leave the handle unmarked (later
  // steps would ask the store again, or log the attempt twice).
  // Report mode (doc/DESIGN.md §3.16) returns as if the attempt were allowed.
  const bool refusing = d.refused && !cfg().report_only;
  if (refusing) {
    *fallback = RefusedResult();
    SetState(pamh_, HandleState::kRefused);
  } else if (d.logged) {
    SetState(pamh_, HandleState::kLogged);
  } else if (provisional || state == HandleState::kProvisional) {
    // Marked by preauth; concluded once (by authfail or authsucc).
    SetState(pamh_,
             provisional ? HandleState::kProvisional : HandleState::kNone);
    if (provisional) SetCounted(pamh_, std::move(d.counted));
  }
  if (!d.log_error.empty()) {
    pam_syslog(pamh_, LOG_ERR, "attempt not logged: %s",
               EscapeForDisplay(d.log_error).c_str());
  }
  if (args_.debug) {
    pam_syslog(pamh_, LOG_DEBUG, "user=%s host=%s: %s",
               DisplayName(d.who.user.value_or("")).c_str(),
               d.who.host ? DisplayName(d.who.host->subject).c_str() : "",
               EscapeForDisplay(d.reason).c_str());
  }
  Announce(d, login.service);
  held.reset();  // Before the message: the terminal may not take it.
  if (d.refused) TellUser(d);
  if (refusing) {
    return RefusedResult();
  }
  return args_.mode == Mode::kAuthFail ? PAM_AUTH_ERR : PAM_SUCCESS;
}

}  // namespace

int RunModule(EntryPoint entry, pam_handle_t* pamh, int flags, int argc,
              const char** argv) noexcept {
  // Held around all config and store access (process_guard.h).
  const ProcessGuard guard;
  // What an exception before the arguments are parsed returns (parsing
  // allocates, and memory can run out): fail_closed, or a setuid caller,
  // fails closed from the start (Step::Run refines it once they are).
  int fallback = guard.active() || HasFailClosedArg(argc, argv)
                     ? RefusedResult(entry == EntryPoint::kAccount)
                     : PAM_IGNORE;
  if (guard.error() != nullptr) {
    pam_syslog(pamh, LOG_WARNING, "cannot secure the process: %s: %s",
               guard.error(), lazy::strerror(guard.error_errno()));
  }
  try {
    Step step(entry, pamh, flags, guard.active(), guard.caller_uid());
    return step.Run(argc, argv, &fallback);
  } catch (const std::exception& e) {
    pam_syslog(pamh, LOG_CRIT, "internal error: %s", e.what());
  } catch (...) {
    pam_syslog(pamh, LOG_CRIT, "internal error");
  }
  return fallback;
}

}  // namespace defender
