// Running programs from the tests: one spawner that captures a program's
// standard output, standard error and exit status, and a forked child that
// runs a function (to test what a process may do only once, e.g. setuid);
// and loopback TCP sockets for servers the tests run or fake.
#ifndef DEFENDER_TESTS_SUPPORT_PROCESS_H_
#define DEFENDER_TESTS_SUPPORT_PROCESS_H_

#include <netinet/in.h>
#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>
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

// Forks a child that runs `child` with the write end of a new close-on-exec
// pipe, then _exit(0)s; `child` may _exit() itself but must use no doctest
// assertion. Stores the read end in *read_fd and returns the child's pid,
// which the caller reaps. Fails the running test if it cannot fork.
pid_t ForkPiped(const std::function<void(int write_fd)>& child, int* read_fd);

// Runs `fn` in a forked child and returns the text it returned. `fn` may
// call _exit() (a nonzero status fails the test) but no doctest assertion.
std::string InChild(const std::function<std::string()>& fn);

// A free TCP port on 127.0.0.1 (bound to port 0 and released), for a
// server the test starts, or for nothing to listen on.
int FreePort();

// A new TCP socket (close-on-exec) bound to 127.0.0.1 at a free port and,
// when `backlog` >= 0, listening with that backlog; fails the running test
// if bind or listen fails. Returns the socket (-1 if none could be made)
// and stores its address in *addr (port 0 if it could not be read).
int BindLoopback(int backlog, sockaddr_in* addr);

// Sends all of `data` on the blocking socket `fd` (without SIGPIPE), as a
// test's fake server does; false if the peer is gone or on an error.
bool SendAll(int fd, std::string_view data);

// For a child (InChild) that needs DNS to never answer: enters a private
// mount namespace where `resolv_conf` (a file holding "nameserver
// 127.0.0.77") is bind-mounted over /etc/resolv.conf, and binds a UDP socket
// on 127.0.0.77:53 that receives the queries and never answers (glibc then
// waits 5 s, twice). Root only. Returns "" or what failed.
std::string EnterBlackHoleDns(const std::string& resolv_conf);

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_PROCESS_H_
