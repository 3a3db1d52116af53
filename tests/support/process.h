// Running programs from the tests: one spawner that captures a program's
// standard output, standard error and exit status, and a forked child that
// runs a function (to test what a process may do only once, e.g. setuid).
#ifndef DEFENDER_TESTS_SUPPORT_PROCESS_H_
#define DEFENDER_TESTS_SUPPORT_PROCESS_H_

#include <functional>
#include <string>
#include <vector>

namespace defender::testing {

struct RunResult {
  int status = -1;  // Exit status, or 128 + signal.
  std::string out;  // Standard output.
  std::string err;  // Standard error.
};

// Runs `argv` (no shell; argv[0] a path, or a name looked up in PATH) with
// `input` on its standard input, its output captured, and `env` ("NAME=value"
// entries) added to the child's environment only. Waits for it to exit.
// Fails the running test if it cannot fork.
RunResult Spawn(const std::vector<std::string>& argv,
                const std::string& input = "",
                const std::vector<std::string>& env = {});

// Runs `fn` in a forked child and returns the text it returned. `fn` may
// call _exit() (a nonzero status fails the test) but no doctest assertion.
std::string InChild(const std::function<std::string()>& fn);

// A free TCP port on 127.0.0.1 (bound to port 0 and released), for a
// server the test starts, or for nothing to listen on.
int FreePort();

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_PROCESS_H_
