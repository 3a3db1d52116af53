#include "tests/support/pam_stack.h"

#include <dlfcn.h>
#include <doctest/doctest.h>
#include <security/pam_modules.h>

#include <chrono>
#include <cstdlib>

namespace defender::testing {

std::string EnvPath(const char* name) {
  const char* v = getenv(name);
  REQUIRE_MESSAGE(v != nullptr, name << " is not set (run through meson test)");
  return v;
}

std::string ModulePath(bool real_clock) {
  return EnvPath(real_clock ? "DEFENDER_MODULE" : "DEFENDER_TEST_MODULE");
}

std::string PamMatrixPath() {
  const char* v = getenv("PAM_MATRIX_MODULE");
  return v && *v ? v : DEFENDER_PAM_MATRIX_DEFAULT;
}

void SetNow(int64_t now) {
  setenv("PAM_DEFENDER_TEST_NOW", std::to_string(now).c_str(), 1);
}

std::string StandardStack(const std::string& module, const std::string& args,
                          const std::string& passdb) {
  const auto line = [&](const std::string& step) {
    return module + " " + step + " " + args + "\n";
  };
  return "auth     required                 " + line("preauth") +
         "auth     [success=1 default=bad]  " + PamMatrixPath() +
         " passdb=" + passdb + "\n" + "auth     [default=die]            " +
         line("authfail") + "auth     sufficient               " +
         line("authsucc") +
         "auth     required                 pam_deny.so\n"
         "account  required                 " +
         line("enforce");
}

pam_handle_t* StartPam(const std::string& confdir, const PamLogin& login,
                       PamConversation* talk) {
  const pam_conv conv = talk->conv();
  pam_handle_t* pamh = nullptr;
  if (pam_start_confdir(login.service.c_str(),
                        login.user ? login.user->c_str() : nullptr, &conv,
                        confdir.c_str(), &pamh) != PAM_SUCCESS) {
    return nullptr;
  }
  if (login.rhost) pam_set_item(pamh, PAM_RHOST, login.rhost->c_str());
  if (login.ruser) pam_set_item(pamh, PAM_RUSER, login.ruser->c_str());
  if (login.tty) pam_set_item(pamh, PAM_TTY, login.tty->c_str());
  return pamh;
}

namespace {

void Answers(const PamLogin& login, PamConversation* talk) {
  talk->password = login.password;
  talk->echo_on = login.echo_on;
  talk->on_message = login.on_message;
}

}  // namespace

PamOutcome RunPam(const std::string& confdir, const PamLogin& login) {
  PamOutcome result;
  PamConversation talk;
  Answers(login, &talk);
  const auto start = std::chrono::steady_clock::now();
  pam_handle_t* pamh = StartPam(confdir, login, &talk);
  REQUIRE_MESSAGE(pamh != nullptr, "pam_start_confdir " << login.service);
  int rc = PAM_SUCCESS;
  if (login.authenticate)
    rc = result.auth = pam_authenticate(pamh, login.flags);
  if (rc == PAM_SUCCESS && login.account) {
    rc = result.account = pam_acct_mgmt(pamh, login.flags);
  }
  // pam_end gets the auth step's code, as a program that ends a
  // transaction after the password check does.
  pam_end(pamh, login.authenticate ? result.auth : rc);
  result.rc = rc;
  result.prompts = std::move(talk.prompts);
  result.messages = std::move(talk.messages);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return result;
}

PamOutcome CallModuleStep(const std::string& module, bool account,
                          const std::vector<std::string>& args,
                          const std::string& confdir, const PamLogin& login) {
  void* lib = dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE_MESSAGE(lib != nullptr, dlerror());
  using Fn = int (*)(pam_handle_t*, int, int, const char**);
  auto fn = reinterpret_cast<Fn>(
      dlsym(lib, account ? "pam_sm_acct_mgmt" : "pam_sm_authenticate"));
  REQUIRE(reinterpret_cast<void*>(fn) != nullptr);
  PamConversation talk;
  Answers(login, &talk);
  pam_handle_t* pamh = StartPam(confdir, login, &talk);
  REQUIRE_MESSAGE(pamh != nullptr, "pam_start_confdir " << login.service);
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  PamOutcome result;
  result.rc = fn(pamh, login.flags, static_cast<int>(argv.size()), argv.data());
  pam_end(pamh, result.rc);
  result.prompts = std::move(talk.prompts);
  result.messages = std::move(talk.messages);
  dlclose(lib);
  return result;
}

}  // namespace defender::testing
