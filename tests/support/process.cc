#include "tests/support/process.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace defender::testing {
namespace {

// Everything `fd` holds from its start.
std::string ReadFrom(int fd, off_t offset) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = pread(fd, buf, sizeof(buf), offset)) > 0) {
    out.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  return out;
}

// Everything until end of file on `fd` (a pipe), then closes it.
std::string Drain(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace

RunResult Spawn(const std::vector<std::string>& argv, const std::string& input,
                const std::vector<std::string>& env) {
  REQUIRE(!argv.empty());
  // Anonymous files rather than pipes: nothing to interleave, no deadlock
  // on a child that writes much to both streams.
  const int in = memfd_create("stdin", MFD_CLOEXEC);
  const int out = memfd_create("stdout", MFD_CLOEXEC);
  const int err = memfd_create("stderr", MFD_CLOEXEC);
  REQUIRE((in >= 0 && out >= 0 && err >= 0));
  REQUIRE(pwrite(in, input.data(), input.size(), 0) ==
          static_cast<ssize_t>(input.size()));
  std::vector<char*> args;
  for (const std::string& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // dup2 clears FD_CLOEXEC on the copies 0, 1 and 2.
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(126);
    for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  RunResult r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFrom(out, 0);
  r.err = ReadFrom(err, 0);
  close(in);
  close(out);
  close(err);
  return r;
}

pid_t ForkPiped(const std::function<void(int write_fd)>& child, int* read_fd) {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    child(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  *read_fd = fds[0];
  return pid;
}

std::string InChild(const std::function<std::string()>& fn) {
  int fd = -1;
  const pid_t pid = ForkPiped(
      [&](int write_fd) {
        const std::string out = fn();
        (void)!write(write_fd, out.data(), out.size());
      },
      &fd);
  const std::string out = Drain(fd);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return out;
}

int FreePort() {
  sockaddr_in sa{};
  const int fd = BindLoopback(/*backlog=*/-1, &sa);
  REQUIRE(fd >= 0);
  REQUIRE(sa.sin_port != 0);
  close(fd);
  return ntohs(sa.sin_port);
}

int BindLoopback(int backlog, sockaddr_in* addr) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  *addr = sockaddr_in{};
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(addr), sizeof *addr) == 0);
  if (backlog >= 0) REQUIRE(listen(fd, backlog) == 0);
  socklen_t len = sizeof *addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(addr), &len) != 0) {
    addr->sin_port = 0;
  }
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string EnterBlackHoleDns(const std::string& resolv_conf) {
  if (unshare(CLONE_NEWNS) != 0 ||
      mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      mount(resolv_conf.c_str(), "/etc/resolv.conf", nullptr, MS_BIND,
            nullptr) != 0) {
    return "cannot set up the mount namespace";
  }
  // Left open for the child's life.
  const int dns = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(53);
  a.sin_addr.s_addr = inet_addr("127.0.0.77");
  if (dns < 0 || bind(dns, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return "cannot bind the black hole";
  }
  return "";
}

}  // namespace defender::testing
