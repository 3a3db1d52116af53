#include "tests/pam/pam_harness.h"

#include <dlfcn.h>
#include <security/pam_modules.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "tests/support/pam_conversation.h"

namespace defender::testing {

PamHarness::PamHarness(std::string module, const std::string& extra_toml,
                       const std::string& args)
    : module_(std::move(module)) {
  config_ = dir_.path() + "/defender.toml";
  db_ = dir_.path() + "/state/defender.db";
  confdir_ = dir_.path() + "/pam.d";
  mkdir(confdir_.c_str(), 0755);
  WriteConfig(extra_toml);
  std::ofstream(dir_.path() + "/passdb")
      << "alice:right:defender-test\nbob:right:defender-test\n"
         "carol:right:defender-test\nroot:right:defender-test\n"
         "alice:right:defender-other\n";
  const std::string m = module_ + " conf=" + config_ + " " + args;
  WriteService("defender-test", "auth required " + m +
                                    " preauth\n"
                                    "auth [success=1 default=bad] " +
                                    std::string(kPamMatrix) +
                                    " passdb=" + dir_.path() +
                                    "/passdb\n"
                                    "auth [default=die] " +
                                    m +
                                    " authfail\n"
                                    "auth sufficient " +
                                    m +
                                    " authsucc\n"
                                    "auth required pam_deny.so\n"
                                    "account required " +
                                    m + " enforce\n");
  WriteService("defender-empty", "");
  SetNow(1'700'000'000);
}

void PamHarness::WriteConfig(const std::string& extra_toml) {
  // Tables in extra_toml that repeat [store] would be a TOML error, so the
  // store path goes last under its own header unless extra_toml has one.
  std::string text = extra_toml;
  if (extra_toml.find("[store]") == std::string::npos) {
    text += "\n[store]\npath = \"" + db_ + "\"\n";
  }
  std::ofstream(config_) << text;
  chmod(config_.c_str(), 0644);
}

void PamHarness::WriteService(const std::string& service,
                              const std::string& text) {
  std::ofstream(confdir_ + "/" + service) << text;
}

void PamHarness::SetNow(int64_t now) {
  now_ = now;
  setenv("PAM_DEFENDER_TEST_NOW", std::to_string(now).c_str(), 1);
}

PamResult PamHarness::Run(const std::string& service, const std::string& user,
                          const std::string& rhost, const std::string& password,
                          bool auth, bool account) {
  PamResult result;
  PamConversation talk(password);
  const pam_conv conv = talk.conv();
  pam_handle_t* pamh = nullptr;
  int rc = pam_start_confdir(service.c_str(), user.c_str(), &conv,
                             confdir_.c_str(), &pamh);
  if (rc != PAM_SUCCESS) throw std::runtime_error("pam_start_confdir failed");
  if (!rhost.empty()) pam_set_item(pamh, PAM_RHOST, rhost.c_str());
  pam_set_item(pamh, PAM_TTY, "ssh");
  if (auth) rc = pam_authenticate(pamh, 0);
  if (rc == PAM_SUCCESS && account) rc = pam_acct_mgmt(pamh, 0);
  pam_end(pamh, rc);
  result.rc = rc;
  result.info = talk.messages;
  return result;
}

pam_handle_t* PamHarness::Start(const std::string& user,
                                const std::string& rhost,
                                PamConversation* talk) const {
  const pam_conv conv = talk->conv();
  pam_handle_t* pamh = nullptr;
  if (pam_start_confdir("defender-test", user.c_str(), &conv, confdir_.c_str(),
                        &pamh) != PAM_SUCCESS) {
    return nullptr;
  }
  if (!rhost.empty()) pam_set_item(pamh, PAM_RHOST, rhost.c_str());
  pam_set_item(pamh, PAM_TTY, "ssh");
  return pamh;
}

std::vector<int> PamHarness::Retries(
    const std::string& user, const std::string& rhost,
    const std::vector<std::string>& passwords,
    const std::function<void(size_t)>& before_each) {
  PamConversation talk;
  const pam_conv conv = talk.conv();
  pam_handle_t* pamh = nullptr;
  if (pam_start_confdir("defender-test", user.c_str(), &conv, confdir_.c_str(),
                        &pamh) != PAM_SUCCESS) {
    throw std::runtime_error("pam_start_confdir failed");
  }
  if (!rhost.empty()) pam_set_item(pamh, PAM_RHOST, rhost.c_str());
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
  return Run(service, user, rhost, password, true, true);
}

PamResult PamHarness::Account(const std::string& user, const std::string& rhost,
                              const std::string& service) {
  return Run(service, user, rhost, "", false, true);
}

PamResult PamHarness::Direct(bool account, const std::vector<std::string>& args,
                             const std::string& user, const std::string& rhost,
                             int flags) {
  void* lib = dlopen(module_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) throw std::runtime_error(dlerror());
  using Fn = int (*)(pam_handle_t*, int, int, const char**);
  auto fn = reinterpret_cast<Fn>(
      dlsym(lib, account ? "pam_sm_acct_mgmt" : "pam_sm_authenticate"));
  PamResult result;
  PamConversation talk;
  const pam_conv conv = talk.conv();
  pam_handle_t* pamh = nullptr;
  pam_start_confdir("defender-empty", user.c_str(), &conv, confdir_.c_str(),
                    &pamh);
  if (!rhost.empty()) pam_set_item(pamh, PAM_RHOST, rhost.c_str());
  std::vector<std::string> all = {"conf=" + config_};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<const char*> argv;
  for (const std::string& a : all) argv.push_back(a.c_str());
  result.rc = fn(pamh, flags, static_cast<int>(argv.size()), argv.data());
  pam_end(pamh, result.rc);
  result.info = talk.messages;
  dlclose(lib);
  return result;
}

std::vector<std::string> PamHarness::Query(const std::string& sql) const {
  std::vector<std::string> rows;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) !=
      SQLITE_OK) {
    sqlite3_close(db);
    return rows;
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      rows.emplace_back(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

}  // namespace defender::testing
