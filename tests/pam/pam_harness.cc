#include "tests/pam/pam_harness.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <memory>
#include <stdexcept>

#include "common/archive.h"
#include "tests/support/sql.h"
#include "tests/support/store_sql.h"

namespace defender::testing {
namespace {

// The first column of each row of `sql` on the database `db`.
std::vector<std::string> QueryDb(const std::string& db,
                                 const std::string& sql) {
  std::vector<std::string> rows;
  SqlRows(
      db, sql,
      [&](sqlite3_stmt* st) { rows.push_back(SqlText(st, 0, "NULL")); }, 0,
      /*read_only=*/true);
  return rows;
}

}  // namespace

PamHarness::PamHarness(std::string module, const std::string& extra_toml,
                       const std::string& args)
    : module_(std::move(module)) {
  config_ = dir_.path() + "/defender.toml";
  db_ = dir_.path() + "/state/attempts.db";
  confdir_ = dir_.path() + "/pam.d";
  mkdir(confdir_.c_str(), 0755);
  WriteConfig(extra_toml);
  const std::string passdb =
      dir_.Write("passdb",
                 "alice:right:defender-test\nbob:right:defender-test\n"
                 "carol:right:defender-test\nroot:right:defender-test\n"
                 "alice:right:defender-other\n",
                 0644);
  WriteService("defender-test",
               StandardStack(module_, "conf=" + config_ + " " + args, passdb));
  WriteService("defender-empty", "");
  SetNow(1'700'000'000);
}

void PamHarness::WriteConfig(const std::string& extra_toml) {
  // Tables in extra_toml that repeat [store] would be a TOML error, so the
  // store path goes last under its own header unless extra_toml has one.
  std::string text = extra_toml;
  if (extra_toml.find("[store]") == std::string::npos) {
    text += "\n[store]\ndir = \"" + dir_.path() + "/state\"\n";
  }
  WriteFile(config_, text, 0644);
}

void PamHarness::WriteService(const std::string& service,
                              const std::string& text) {
  WriteFile(confdir_ + "/" + service, text, 0644);
}

void PamHarness::SetNow(int64_t now) {
  now_ = now;
  testing::SetNow(now);
}

PamLogin PamHarness::Items(const std::string& service, const std::string& user,
                           const std::string& rhost) const {
  PamLogin login{.service = service, .user = user, .tty = "ssh"};
  if (!rhost.empty()) login.rhost = rhost;
  return login;
}

PamResult PamHarness::Run(PamLogin login) {
  login.echo_on = login.password;
  const PamOutcome o = RunPam(confdir_, login);
  return PamResult{o.rc, o.messages};
}

pam_handle_t* PamHarness::Start(const std::string& user,
                                const std::string& rhost,
                                PamConversation* talk) const {
  return StartPam(confdir_, Items("defender-test", user, rhost), talk);
}

std::vector<int> PamHarness::Retries(
    const std::string& user, const std::string& rhost,
    const std::vector<std::string>& passwords,
    const std::function<void(size_t)>& before_each) {
  PamConversation talk;
  PamLogin login = Items("defender-test", user, rhost);
  login.tty.reset();
  pam_handle_t* pamh = StartPam(confdir_, login, &talk);
  if (pamh == nullptr) throw std::runtime_error("pam_start_confdir failed");
  std::vector<int> codes;
  for (size_t i = 0; i < passwords.size(); ++i) {
    if (before_each) before_each(i);
    talk.password = talk.echo_on = passwords[i];
    codes.push_back(pam_authenticate(pamh, 0));
  }
  pam_end(pamh, codes.empty() ? PAM_SUCCESS : codes.back());
  return codes;
}

PamResult PamHarness::Login(const std::string& user, const std::string& rhost,
                            const std::string& password,
                            const std::string& service) {
  PamLogin login = Items(service, user, rhost);
  login.password = password;
  return Run(login);
}

PamResult PamHarness::Account(const std::string& user, const std::string& rhost,
                              const std::string& service) {
  PamLogin login = Items(service, user, rhost);
  login.authenticate = false;
  return Run(login);
}

PamResult PamHarness::Direct(bool account, const std::vector<std::string>& args,
                             const std::string& user, const std::string& rhost,
                             int flags) {
  PamLogin login = Items("defender-empty", user, rhost);
  login.tty.reset();
  login.flags = flags;
  std::vector<std::string> all = {"conf=" + config_};
  all.insert(all.end(), args.begin(), args.end());
  const PamOutcome o = CallModuleStep(module_, account, all, confdir_, login);
  return PamResult{o.rc, o.messages};
}

std::vector<std::string> PamHarness::Query(const std::string& sql) const {
  std::vector<std::string> rows;
  StoreSqlRows(dir_.path() + "/state", sql, [&](sqlite3_stmt* st) {
    rows.push_back(SqlText(st, 0, "NULL"));
  });
  return rows;
}

std::vector<std::string> PamHarness::QueryAttempts(
    const std::string& sql) const {
  const std::string dir = db_.substr(0, db_.rfind('/'));
  std::string err;
  std::unique_ptr<AttemptArchive> archive = AttemptArchive::Open(dir, 0, &err);
  IngestResult ingested;
  REQUIRE_MESSAGE(archive != nullptr, err);
  REQUIRE_MESSAGE(archive->Ingest(&ingested, &err), err);
  CHECK(ingested.skipped_bytes == 0);
  return QueryDb(dir + "/" + kArchiveName, sql);
}

}  // namespace defender::testing
