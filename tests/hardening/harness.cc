#define DOCTEST_CONFIG_IMPLEMENT
#include "harness.h"

#include <dlfcn.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <security/pam_modules.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "tests/support/pam_conversation.h"

// syslog(3) as libpam's pam_syslog() calls it (fortified or not): captured.
namespace {
void Capture(const char* fmt, va_list ap) {
  char buf[4096];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  hardening::CapturedLog().push_back(buf);
}
}  // namespace

extern "C" {
void __syslog_chk(int, int, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  Capture(fmt, ap);
  va_end(ap);
}
void __vsyslog_chk(int, int, const char* fmt, va_list ap) { Capture(fmt, ap); }
void syslog(int, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  Capture(fmt, ap);
  va_end(ap);
}
void vsyslog(int, const char* fmt, va_list ap) { Capture(fmt, ap); }
}

namespace hardening {

namespace {

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = getenv(name);
  return v && *v ? v : fallback;
}

std::vector<std::string> Split(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

std::string ModulePath(bool real_clock) {
  const char* v =
      getenv(real_clock ? "DEFENDER_MODULE" : "DEFENDER_TEST_MODULE");
  REQUIRE_MESSAGE(v != nullptr, "DEFENDER_MODULE/DEFENDER_TEST_MODULE unset");
  return v;
}

std::string MatrixPath() {
  return EnvOr("PAM_MATRIX_MODULE",
               "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so");
}

TempDir::TempDir() {
  std::string tmpl = EnvOr("TMPDIR", "/tmp") + "/defender-hardening.XXXXXX";
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  path_ = tmpl;
  chmod(path_.c_str(), 0755);  // Reachable by `nobody` in privilege tests.
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string InChild(const std::function<std::string()>& fn) {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    const std::string out = fn();
    (void)!write(fds[1], out.data(), out.size());
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return out;
}

void WriteFile(const std::string& path, const std::string& text, int mode) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  REQUIRE_MESSAGE(fd >= 0, path << ": " << strerror(errno));
  REQUIRE(write(fd, text.data(), text.size()) ==
          static_cast<ssize_t>(text.size()));
  fchmod(fd, static_cast<mode_t>(mode));
  close(fd);
}

std::string ReadFile(const std::string& path) {
  FILE* f = fopen(path.c_str(), "rbe");
  if (!f) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

int Run(const std::vector<std::string>& argv) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, 1);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Env::Env(const std::string& config_extra, const std::string& module_args,
         std::optional<std::string> db)
    : module_args_(module_args) {
  db_ = db.value_or(tmp_ / "state/defender.db");
  conf_ = tmp_ / "defender.toml";
  confdir_ = tmp_ / "pam.d";
  mkdir(confdir_.c_str(), 0755);
  SetConfig(config_extra);
  WriteFile(tmp_ / "passdb", "alice:secret:login\nbob:secret:login\n");
  const std::string matrix = MatrixPath() + " passdb=" + (tmp_ / "passdb");
  WriteService("login", "auth required " + ModuleLine("preauth") + "\n" +
                            "auth [success=1 default=bad] " + matrix + "\n" +
                            "auth [default=die] " + ModuleLine("authfail") +
                            "\n" + "auth sufficient " + ModuleLine("authsucc") +
                            "\n" + "auth required pam_deny.so\n" +
                            "account required " + ModuleLine("enforce") + "\n");
  WriteService("direct", "auth required pam_permit.so\n");
  WriteService("other", "auth required pam_deny.so\n");
}

void Env::SetConfig(const std::string& config_extra) {
  WriteFile(conf_, "[store]\npath = \"" + db_ + "\"\n\n" + config_extra);
}

void Env::WriteService(const std::string& name, const std::string& text) {
  WriteFile(confdir_ + "/" + name, text);
}

std::string Env::ModuleLine(const std::string& args) const {
  return ModulePath() + " " + args + " conf=" + conf_ + " " + module_args_;
}

namespace {

pam_handle_t* Start(const Env& env, const Login& login,
                    defender::testing::PamConversation* talk) {
  talk->password = login.password;
  talk->echo_on = login.prompted_user;
  const pam_conv conv = talk->conv();
  pam_handle_t* pamh = nullptr;
  const int rc = pam_start_confdir(login.service.c_str(),
                                   login.user ? login.user->c_str() : nullptr,
                                   &conv, env.confdir().c_str(), &pamh);
  REQUIRE_MESSAGE(rc == PAM_SUCCESS, "pam_start_confdir: " << rc);
  if (login.rhost) pam_set_item(pamh, PAM_RHOST, login.rhost->c_str());
  if (login.tty) pam_set_item(pamh, PAM_TTY, login.tty->c_str());
  return pamh;
}

}  // namespace

LoginResult RunLogin(const Env& env, const Login& login, bool authenticate) {
  LoginResult result;
  defender::testing::PamConversation talk;
  const auto start = std::chrono::steady_clock::now();
  pam_handle_t* pamh = Start(env, login, &talk);
  if (!authenticate) {
    pam_end(pamh, PAM_SUCCESS);
    return result;
  }
  result.auth = pam_authenticate(pamh, login.flags);
  if (result.auth == PAM_SUCCESS && login.account) {
    result.account = pam_acct_mgmt(pamh, login.flags);
  }
  pam_end(pamh, result.auth);
  result.prompts = std::move(talk.prompts);
  result.messages = std::move(talk.messages);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return result;
}

int CallStep(const Env& env, bool account, const std::string& args,
             const Login& login) {
  void* module = dlopen(ModulePath().c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE_MESSAGE(module != nullptr, dlerror());
  using Fn = int (*)(pam_handle_t*, int, int, const char**);
  auto fn = reinterpret_cast<Fn>(
      dlsym(module, account ? "pam_sm_acct_mgmt" : "pam_sm_authenticate"));
  REQUIRE(reinterpret_cast<void*>(fn) != nullptr);
  defender::testing::PamConversation talk;
  Login direct = login;
  direct.service = "direct";
  pam_handle_t* pamh = Start(env, direct, &talk);
  std::vector<std::string> words = Split(args + " conf=" + env.conf());
  std::vector<const char*> argv;
  for (const std::string& w : words) argv.push_back(w.c_str());
  const int rc =
      fn(pamh, login.flags, static_cast<int>(argv.size()), argv.data());
  pam_end(pamh, rc);
  dlclose(module);
  return rc;
}

void SetNow(int64_t now) {
  setenv("PAM_DEFENDER_TEST_NOW", std::to_string(now).c_str(), 1);
}

std::vector<std::string>& CapturedLog() {
  static auto* log = new std::vector<std::string>();
  return *log;
}

void ClearLog() { CapturedLog().clear(); }

bool LogHas(const std::string& needle) {
  for (const std::string& line : CapturedLog()) {
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::string LogText() {
  std::string out;
  for (const std::string& line : CapturedLog()) out += line + "\n";
  return out;
}

namespace {

// Runs `sql` and calls `row` for each result row.
template <typename F>
bool Query(const std::string& db, const std::string& sql, F row,
           int busy_timeout_ms = 5000) {
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) !=
      SQLITE_OK) {
    sqlite3_close(h);
    return false;
  }
  sqlite3_busy_timeout(h, busy_timeout_ms);
  sqlite3_stmt* st = nullptr;
  bool ok = sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK;
  int rc = SQLITE_DONE;
  while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
  ok = ok && rc == SQLITE_DONE;
  sqlite3_finalize(st);
  sqlite3_close(h);
  return ok;
}

std::string Col(sqlite3_stmt* st, int i) {
  const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return t ? std::string(t, static_cast<size_t>(sqlite3_column_bytes(st, i)))
           : "";
}

}  // namespace

std::vector<SubjectRow> Subjects(const std::string& db) {
  std::vector<SubjectRow> rows;
  REQUIRE(Query(db,
                "SELECT kind, subject, failures, blocked, expires FROM "
                "subjects ORDER BY kind, subject",
                [&](sqlite3_stmt* st) {
                  rows.push_back(SubjectRow{Col(st, 0), Col(st, 1),
                                            sqlite3_column_int64(st, 2),
                                            sqlite3_column_int64(st, 3),
                                            sqlite3_column_int64(st, 4)});
                }));
  return rows;
}

std::vector<AttemptRow> Attempts(const std::string& db) {
  std::vector<AttemptRow> rows;
  REQUIRE(Query(db,
                "SELECT service, user, host, tty, result FROM attempts "
                "ORDER BY id",
                [&](sqlite3_stmt* st) {
                  rows.push_back(AttemptRow{Col(st, 0), Col(st, 1), Col(st, 2),
                                            Col(st, 3), Col(st, 4)});
                }));
  return rows;
}

std::optional<SubjectRow> FindSubject(const std::string& db,
                                      const std::string& kind,
                                      const std::string& subject) {
  for (const SubjectRow& r : Subjects(db)) {
    if (r.kind == kind && r.subject == subject) return r;
  }
  return std::nullopt;
}

int64_t Failures(const std::string& db, const std::string& kind,
                 const std::string& subject) {
  const std::optional<SubjectRow> r = FindSubject(db, kind, subject);
  return r ? r->failures : 0;
}

std::string IntegrityCheck(const std::string& db) {
  std::string first = "(no result)";
  bool seen = false;
  const bool ok = Query(db, "PRAGMA integrity_check", [&](sqlite3_stmt* st) {
    if (!seen) first = Col(st, 0);
    seen = true;
  });
  return ok ? first : "(query failed)";
}

bool Checkpoint(const std::string& db) {
  std::string busy;
  const bool ok = Query(db, "PRAGMA wal_checkpoint(TRUNCATE)",
                        [&](sqlite3_stmt* st) { busy = Col(st, 0); });
  return ok && busy == "0";
}

bool ExecSql(const std::string& db, const std::string& sql,
             int busy_timeout_ms) {
  return Query(
      db, sql, [](sqlite3_stmt*) {}, busy_timeout_ms);
}

bool IsBoundedPrintable(const std::string& s, size_t max_bytes) {
  if (s.size() > max_bytes) return false;
  size_t i = 0;
  const auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
  };
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (c == '%') {
      if (i + 2 >= s.size() || !hex(s[i + 1]) || !hex(s[i + 2])) {
        return false;
      }
      i += 3;
      continue;
    }
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    // Overlong forms, surrogates and values above U+10FFFF.
    const auto b1 = static_cast<unsigned char>(len > 1 ? s[i + 1] : 0);
    if ((len == 2 && c < 0xC2) || (len == 3 && c == 0xE0 && b1 < 0xA0) ||
        (len == 3 && c == 0xED && b1 >= 0xA0) ||
        (len == 4 && c == 0xF0 && b1 < 0x90) ||
        (len == 4 && (c > 0xF4 || (c == 0xF4 && b1 >= 0x90)))) {
      return false;
    }
    i += len;
  }
  return true;
}

int RunTests(int argc, char** argv, bool needs_root) {
  if (needs_root && geteuid() != 0) {
    fprintf(stderr, "skipped: these tests need root (mounts, chown, setuid)\n");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}

}  // namespace hardening
