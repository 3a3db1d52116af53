#include "tests/cli/harness.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

namespace defender::testing {

Sandbox::Sandbox(const std::string& config_extra) {
  config_ = dir_ / "defender.toml";
  passdb_ = dir_.Write("passdb", "", 0600);
  WriteConfig("[store]\ndir = \"" + state_dir() + "\"\n" + config_extra);
  setenv("TZ", "UTC", 1);
  SetNow(kT0);
  // The PAM service for Login(): the documented stack, on the test module.
  REQUIRE(mkdir((dir_ / "pam.d").c_str(), 0755) == 0);
  dir_.Write("pam.d/defender-test",
             StandardStack(ModulePath(), "conf=" + config_, passdb_), 0644);
}

void Sandbox::WriteConfig(const std::string& text) {
  testing::WriteFile(config_, text, 0644);
}

std::string Sandbox::WriteFile(const std::string& name,
                               const std::string& text) {
  return dir_.Write(name, text, 0644);
}

void Sandbox::SetNow(int64_t now) {
  now_ = now;
  testing::SetNow(now);
}

void Sandbox::AddUser(const std::string& user, const std::string& password) {
  std::ofstream out(passdb_, std::ios::app);
  out << user << ":" << password << ":defender-test\n";
}

RunResult Sandbox::Exec(const std::vector<std::string>& argv) const {
  return Spawn(argv);
}

RunResult Sandbox::Ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {EnvPath("DEFENDERCTL_TESTCLOCK"), "-c",
                                   config_};
  argv.insert(argv.end(), args.begin(), args.end());
  return Spawn(argv);
}

int Sandbox::Login(const std::string& user, const std::string& password,
                   const std::string& rhost, const std::string& tty) const {
  std::vector<std::string> argv = {EnvPath("PAMTESTER")};
  if (!rhost.empty()) argv.insert(argv.end(), {"-I", "rhost=" + rhost});
  if (!tty.empty()) argv.insert(argv.end(), {"-I", "tty=" + tty});
  argv.insert(argv.end(), {"defender-test", user, "authenticate"});
  std::vector<std::string> env = {
      "LD_PRELOAD=libpam_wrapper.so", "PAM_WRAPPER=1",
      "PAM_WRAPPER_SERVICE_DIR=" + (dir_ / "pam.d")};
  // Sanitizer build: pamtester is not sanitized, so the sanitized module
  // needs the ASan runtime preloaded, and pam_wrapper must not load it with
  // RTLD_DEEPBIND. pamtester's own allocations are not ours to judge.
  if (const char* asan = getenv("DEFENDER_ASAN_PRELOAD")) {
    env[0] = "LD_PRELOAD=" + std::string(asan) + " libpam_wrapper.so";
    env.push_back("PAM_WRAPPER_DISABLE_DEEPBIND=1");
    const char* opts = getenv("ASAN_OPTIONS");
    env.push_back(
        "ASAN_OPTIONS=" + (opts ? std::string(opts) + ":" : std::string()) +
        "detect_leaks=0");
  }
  return Spawn(argv, password + "\n", env).status;
}

}  // namespace defender::testing
