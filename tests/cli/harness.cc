#include "tests/cli/harness.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace defender::test {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
  }
  REQUIRE(chmod(path.c_str(), mode) == 0);
}

}  // namespace

std::string EnvPath(const char* name) {
  const char* v = getenv(name);
  REQUIRE_MESSAGE(v != nullptr, name << " is not set (run through meson test)");
  return v;
}

Sandbox::Sandbox(const std::string& config_extra) {
  char tmpl[] = "/tmp/defenderctl-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  dir_ = tmpl;
  // Readable by others: the non-root test runs defenderctl as nobody.
  REQUIRE(chmod(dir_.c_str(), 0755) == 0);
  config_ = dir_ + "/defender.toml";
  passdb_ = dir_ + "/passdb";
  WriteConfig("[store]\npath = \"" + db() + "\"\n" + config_extra);
  Write(passdb_, "", 0600);
  setenv("TZ", "UTC", 1);
  SetNow(kT0);
  // The PAM service for Login(): the documented stack, on the test module.
  const std::string module = EnvPath("DEFENDER_TEST_MODULE");
  const std::string matrix = EnvPath("PAM_WRAPPER_MODULES") + "/pam_matrix.so";
  const std::string conf = " conf=" + config_;
  mkdir((dir_ + "/pam.d").c_str(), 0755);
  Write(dir_ + "/pam.d/defender-test",
        "auth     required                    " + module + " preauth" + conf +
            "\n"
            "auth     [success=1 default=bad]     " +
            matrix + " passdb=" + passdb_ +
            "\n"
            "auth     [default=die]               " +
            module + " authfail" + conf +
            "\n"
            "auth     sufficient                  " +
            module + " authsucc" + conf +
            "\n"
            "auth     required                    pam_deny.so\n"
            "account  required                    " +
            module + " enforce" + conf + "\n",
        0644);
}

Sandbox::~Sandbox() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void Sandbox::WriteConfig(const std::string& text) {
  Write(config_, text, 0644);
}

std::string Sandbox::WriteFile(const std::string& name,
                               const std::string& text) {
  const std::string path = dir_ + "/" + name;
  Write(path, text, 0644);
  return path;
}

void Sandbox::SetNow(int64_t now) {
  now_ = now;
  setenv("PAM_DEFENDER_TEST_NOW", std::to_string(now).c_str(), 1);
}

void Sandbox::AddUser(const std::string& user, const std::string& password) {
  std::ofstream out(passdb_, std::ios::app);
  out << user << ":" << password << ":defender-test\n";
}

namespace {

// Runs argv with stdin from `input`, stdout/stderr to files; `env` is
// added to the environment of the child only.
RunResult Spawn(const std::string& dir, const std::vector<std::string>& argv,
                const std::string& input, const std::vector<std::string>& env) {
  const std::string in_path = dir + "/.stdin";
  const std::string out_path = dir + "/.stdout";
  const std::string err_path = dir + "/.stderr";
  Write(in_path, input, 0644);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int in = open(in_path.c_str(), O_RDONLY);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  RunResult r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadAll(out_path);
  r.err = ReadAll(err_path);
  return r;
}

}  // namespace

RunResult Sandbox::Exec(const std::vector<std::string>& argv) const {
  return Spawn(dir_, argv, "", {});
}

RunResult Sandbox::Ctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {EnvPath("DEFENDERCTL_TESTCLOCK"), "-c",
                                   config_};
  argv.insert(argv.end(), args.begin(), args.end());
  return Spawn(dir_, argv, "", {});
}

int Sandbox::Login(const std::string& user, const std::string& password,
                   const std::string& rhost, const std::string& tty) const {
  std::vector<std::string> argv = {EnvPath("PAMTESTER")};
  if (!rhost.empty()) argv.insert(argv.end(), {"-I", "rhost=" + rhost});
  if (!tty.empty()) argv.insert(argv.end(), {"-I", "tty=" + tty});
  argv.insert(argv.end(), {"defender-test", user, "authenticate"});
  std::vector<std::string> env = {"LD_PRELOAD=libpam_wrapper.so",
                                  "PAM_WRAPPER=1",
                                  "PAM_WRAPPER_SERVICE_DIR=" + dir_ + "/pam.d"};
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
  const RunResult r = Spawn(dir_, argv, password + "\n", env);
  return r.status;
}

Json ParseJson(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  REQUIRE_MESSAGE(!j.is_discarded(), "not JSON: " << text);
  return j;
}

}  // namespace defender::test
