#include "common/hooks.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/unit/temp_dir.h"

namespace defender {
namespace {

// Polls for `path` to exist (the hook runs detached), up to 10 seconds.
bool WaitForFile(const std::string& path) {
  for (int i = 0; i < 1000; ++i) {
    if (access(path.c_str(), F_OK) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("hook environment carries the event") {
  const Event e{
      Event::Type::kBlock, {SubjectKind::kHost, "192.0.2.1"}, 1234, 4};
  const auto env = HookEnvironment(e, "sshd");
  CHECK(env[0] == "DEFENDER_EVENT=block");
  CHECK(env[1] == "DEFENDER_KIND=host");
  CHECK(env[2] == "DEFENDER_SUBJECT=192.0.2.1");
  CHECK(env[3] == "DEFENDER_UNTIL=1234");
  CHECK(env[4] == "DEFENDER_SERVICE=sshd");
}

TEST_CASE("a hook runs detached with its argv (no shell) and environment") {
  testing::TempDir dir;
  const std::string out = dir.path() + "/out";
  const std::string done = dir.path() + "/done";
  // The script writes its arguments and environment, then marks completion.
  const std::string script = dir.path() + "/hook.sh";
  std::ofstream(script)
      << "#!/bin/sh\n"
         "printf '%s|' \"$@\" > \"$OUT\"\n"
         "echo \"$DEFENDER_EVENT $DEFENDER_SUBJECT\" >> \"$OUT\"\n"
         "ls /proc/self/fd | wc -l >> \"$OUT\"\n"
         "touch \"$DONE\"\n";
  REQUIRE(chmod(script.c_str(), 0755) == 0);
  const Event e{Event::Type::kUnblock, {SubjectKind::kUser, "alice"}, 0, 0};
  auto env = HookEnvironment(e, "sudo");
  env.push_back("OUT=" + out);
  env.push_back("DONE=" + done);
  std::string err;
  REQUIRE(SpawnDetached({script, "a b", "; touch " + dir.path() + "/pwned"},
                        env, 5, &err));
  // No child of ours is left: the intermediate child was reaped.
  CHECK(waitpid(-1, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
  REQUIRE(WaitForFile(done));
  // 4 descriptors: 0-2 and the one `ls` opens for /proc/self/fd.
  CHECK(ReadAll(out) ==
        "a b|; touch " + dir.path() + "/pwned|unblock alice\n4\n");
  CHECK(access((dir.path() + "/pwned").c_str(), F_OK) != 0);
}

TEST_CASE("a hook that overruns its timeout is killed") {
  testing::TempDir dir;
  const std::string pidfile = dir.path() + "/pid";
  const std::string script = dir.path() + "/slow.sh";
  std::ofstream(script) << "#!/bin/sh\necho $$ > \"$PIDFILE.tmp\"\n"
                           "mv \"$PIDFILE.tmp\" \"$PIDFILE\"\nexec sleep 60\n";
  REQUIRE(chmod(script.c_str(), 0755) == 0);
  std::string err;
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(SpawnDetached({script}, {"PIDFILE=" + pidfile}, 1, &err));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  REQUIRE(WaitForFile(pidfile));
  const pid_t pid = std::stoi(ReadAll(pidfile));
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {  // Up to 5 s.
    gone = kill(pid, 0) != 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(gone);
}

TEST_CASE("signal dispositions of the caller are unchanged") {
  struct sigaction before_pipe, before_chld, after_pipe, after_chld;
  sigaction(SIGPIPE, nullptr, &before_pipe);
  sigaction(SIGCHLD, nullptr, &before_chld);
  std::string err;
  REQUIRE(SpawnDetached({"/bin/true"}, {}, 5, &err));
  sigaction(SIGPIPE, nullptr, &after_pipe);
  sigaction(SIGCHLD, nullptr, &after_chld);
  CHECK(reinterpret_cast<void*>(before_pipe.sa_handler) ==
        reinterpret_cast<void*>(after_pipe.sa_handler));
  CHECK(reinterpret_cast<void*>(before_chld.sa_handler) ==
        reinterpret_cast<void*>(after_chld.sa_handler));
}

TEST_CASE("a relative hook path is refused") {
  std::string err;
  CHECK_FALSE(SpawnDetached({"true"}, {}, 5, &err));
  CHECK(err == "hook command must be an absolute path");
}

}  // namespace
}  // namespace defender
