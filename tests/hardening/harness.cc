#define DOCTEST_CONFIG_IMPLEMENT
#include "harness.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <sstream>

#include "common/archive.h"
#include "common/journal.h"
#include "tests/support/printable.h"
#include "tests/support/sql.h"
#include "tests/support/store_sql.h"

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

std::string DirOf(const std::string& path) {
  return path.substr(0, path.rfind('/'));
}

std::vector<std::string> Split(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

Env::Env(const std::string& config_extra, const std::string& module_args,
         std::optional<std::string> state_dir)
    : module_args_(module_args) {
  path_ = state_dir.value_or(tmp_ / "state");
  db_ = path_ + "/attempts.db";
  conf_ = tmp_ / "defender.toml";
  confdir_ = tmp_ / "pam.d";
  REQUIRE(mkdir(confdir_.c_str(), 0755) == 0);
  SetConfig(config_extra);
  const std::string passdb = tmp_.Write(
      "passdb", "alice:secret:login\nbob:secret:login\ngames:secret:login\n",
      0644);
  WriteService("login",
               defender::testing::StandardStack(
                   ModulePath(), "conf=" + conf_ + " " + module_args_, passdb));
  WriteService("direct", "auth required pam_permit.so\n");
  WriteService("other", "auth required pam_deny.so\n");
}

void Env::SetConfig(const std::string& config_extra) {
  WriteFile(conf_, "[store]\ndir = \"" + path_ + "\"\n\n" + config_extra);
}

void Env::WriteService(const std::string& name, const std::string& text) {
  WriteFile(confdir_ + "/" + name, text);
}

std::string Env::ModuleLine(const std::string& args) const {
  return ModulePath() + " " + args + " conf=" + conf_ + " " + module_args_;
}

namespace {

defender::testing::PamLogin Items(const Login& login) {
  return {.service = login.service,
          .user = login.user,
          .rhost = login.rhost,
          .tty = login.tty,
          .ruser = login.ruser,
          .password = login.password,
          .echo_on = login.prompted_user,
          .flags = login.flags,
          .account = login.account,
          .on_message = login.on_message};
}

}  // namespace

LoginResult RunLogin(const Env& env, const Login& login, bool authenticate) {
  defender::testing::PamLogin items = Items(login);
  items.authenticate = authenticate;
  if (!authenticate) items.account = false;
  defender::testing::PamOutcome o =
      defender::testing::RunPam(env.confdir(), items);
  if (!authenticate) return LoginResult{};
  return LoginResult{o.auth, o.account, std::move(o.prompts),
                     std::move(o.messages), o.seconds};
}

void CheckNormalLogin(const Env& env) {
  Login normal;
  normal.password = "secret";
  const LoginResult ok = RunLogin(env, normal);
  CHECK(ok.auth == PAM_SUCCESS);
  CHECK(ok.account == PAM_SUCCESS);
  CHECK(ok.messages.empty());
}

Login BlockBob(const Env& env) {
  Login bob;
  bob.user = "bob";
  bob.rhost = "198.51.100.1";
  CHECK(RunLogin(env, bob).auth == PAM_AUTH_ERR);
  CHECK(RunLogin(env, bob).auth == PAM_AUTH_ERR);  // Blocks bob.
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  REQUIRE(FindSubject(env.db(), "user", "bob")->blocked == 1);
  return bob;
}

void CheckOnlyHostileRefused(const Env& env, Login hostile) {
  Login alice;
  alice.password = "secret";
  alice.rhost = "192.0.2.77";
  CHECK(RunLogin(env, alice).auth == PAM_SUCCESS);
  hostile.password = "secret";
  const LoginResult refused = RunLogin(env, hostile);
  CHECK(refused.auth == PAM_AUTH_ERR);
  REQUIRE(refused.messages.size() == 1);
  CHECK(refused.messages[0] ==
        "Account locked: too many login attempts. Try again in 5 minute(s).");
}

int CallStep(const Env& env, bool account, const std::string& args,
             const Login& login) {
  defender::testing::PamLogin items = Items(login);
  items.service = "direct";
  return defender::testing::CallModuleStep(ModulePath(), account,
                                           Split(args + " conf=" + env.conf()),
                                           env.confdir(), items)
      .rc;
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

using defender::testing::SqlRows;

std::string Col(sqlite3_stmt* st, int i) {
  return defender::testing::SqlText(st, i);
}

// The rows `sql` returns on `db`, each made by `make`; fails the test when
// the query does.
template <typename Row>
std::vector<Row> ReadRows(const std::string& db, const std::string& sql,
                          Row (*make)(sqlite3_stmt*)) {
  std::vector<Row> rows;
  REQUIRE(
      SqlRows(db, sql, [&](sqlite3_stmt* st) { rows.push_back(make(st)); }));
  return rows;
}

}  // namespace

std::vector<SubjectRow> Subjects(const std::string& db) {
  std::vector<SubjectRow> rows;
  REQUIRE(defender::testing::StoreSqlRows(
      DirOf(db),
      "SELECT kind, subject, failures, blocked, expires FROM subjects ORDER "
      "BY kind, subject",
      [&](sqlite3_stmt* st) {
        rows.push_back(SubjectRow{
            Col(st, 0), Col(st, 1), sqlite3_column_int64(st, 2),
            sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4)});
      }));
  return rows;
}

std::vector<AttemptRow> Attempts(const std::string& db,
                                 int64_t* skipped_bytes) {
  // The module appends to the journal beside the store; move it into the
  // archive as defenderctl does, then read the archive.
  const std::string dir = defender::ParentDir(db);
  std::string err;
  auto archive = defender::AttemptArchive::Open(dir, 0, &err);
  defender::IngestResult ingested;
  REQUIRE_MESSAGE(archive != nullptr, err);
  REQUIRE_MESSAGE(archive->Ingest(&ingested, &err), err);
  if (skipped_bytes != nullptr) *skipped_bytes += ingested.skipped_bytes;
  return ReadRows<AttemptRow>(
      dir + "/" + defender::kArchiveName,
      "SELECT service, user, host, tty, result FROM attempts ORDER BY id",
      [](sqlite3_stmt* st) {
        return AttemptRow{Col(st, 0), Col(st, 1), Col(st, 2), Col(st, 3),
                          Col(st, 4)};
      });
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
  const bool ok = SqlRows(db, "PRAGMA integrity_check", [&](sqlite3_stmt* st) {
    if (!seen) first = Col(st, 0);
    seen = true;
  });
  return ok ? first : "(query failed)";
}

bool ExecSql(const std::string& db, const std::string& sql,
             int busy_timeout_ms) {
  return SqlRows(
      db, sql, [](sqlite3_stmt*) {}, busy_timeout_ms);
}

bool IsBoundedPrintable(const std::string& s, size_t max_bytes) {
  return defender::testing::IsBoundedPrintableText(s, max_bytes,
                                                   /*percent_escaped=*/true);
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
