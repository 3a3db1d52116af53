// How a lock wait that must stay bounded should wait: N processes take the
// same file's flock(LOCK_EX) in turn (each holds it for 20 pread/pwrite
// pairs, then does some work outside it), waiting in one of four ways:
//   blocking  flock(LOCK_EX): unbounded (a stopped holder hangs the
//             waiter), the kernel's own wait, for reference;
//   inotify   LOCK_NB, then poll() on an inotify watch for IN_CLOSE_WRITE
//             of the file, retried at each close;
//   backoff   LOCK_NB, sleeping 20 µs doubling to 1 ms between tries;
//   chosen    WaitFlock (common/lock_wait.h): yield between tries for
//             500 µs, then as backoff.
// Prints locks per second and the wait's median, p99 and maximum.
//
//   lock_waits DIR [ITERATIONS]
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/lock_wait.h"

namespace {

using Clock = std::chrono::steady_clock;

enum class Way { kBlocking, kInotify, kBackoff, kChosen };
const char* kNames[] = {"blocking", "inotify", "backoff", "chosen"};

bool Wait(int fd, Way way) {
  switch (way) {
    case Way::kBlocking:
      return flock(fd, LOCK_EX) == 0;
    case Way::kChosen:
      return defender::WaitFlock(fd, LOCK_EX, 60'000);
    case Way::kBackoff: {
      auto pause = std::chrono::microseconds(20);
      while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(1000));
      }
      return true;
    }
    case Way::kInotify: {
      if (flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
      const int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
      const std::string path = "/proc/self/fd/" + std::to_string(fd);
      if (in < 0 || inotify_add_watch(in, path.c_str(), IN_CLOSE_WRITE) < 0) {
        return false;
      }
      while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        pollfd p{in, POLLIN, 0};
        if (poll(&p, 1, 10) > 0) {
          char events[1024];
          while (read(in, events, sizeof events) > 0) {
          }
        }
      }
      close(in);
      return true;
    }
  }
  return false;
}

// Runs `procs` processes of `iterations` locks each; the waits in µs.
std::vector<double> Run(const std::string& file, Way way, int procs,
                        int iterations, double* seconds) {
  int pipefd[2];
  if (pipe(pipefd) != 0) exit(1);
  const Clock::time_point start = Clock::now();
  for (int p = 0; p < procs; ++p) {
    if (fork() != 0) continue;
    std::vector<double> waits;
    for (int i = 0; i < iterations; ++i) {
      const int fd = open(file.c_str(), O_RDWR | O_CLOEXEC);
      const Clock::time_point t = Clock::now();
      if (fd < 0 || !Wait(fd, way)) _exit(1);
      waits.push_back(
          std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      char buf[4096];
      for (int k = 0; k < 20; ++k) {
        if (pread(fd, buf, sizeof buf, 0) < 0 || pwrite(fd, buf, 64, 0) < 0) {
          _exit(1);
        }
      }
      close(fd);
      double x = 0;
      for (int k = 0; k < 20000; ++k) {
        x += k;
        asm volatile("" : : "g"(x));
      }
    }
    const size_t bytes = waits.size() * sizeof(double);
    _exit(write(pipefd[1], waits.data(), bytes) == ssize_t(bytes) ? 0 : 1);
  }
  close(pipefd[1]);
  std::vector<double> all(size_t(procs) * iterations);
  size_t got = 0;
  const size_t want = all.size() * sizeof(double);
  ssize_t n;
  while (got < want &&
         (n = read(pipefd[0], reinterpret_cast<char*>(all.data()) + got,
                   want - got)) > 0) {
    got += size_t(n);
  }
  close(pipefd[0]);
  int status;
  bool ok = got == want;
  while (wait(&status) > 0)
    ok = ok && WIFEXITED(status) && !WEXITSTATUS(status);
  *seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!ok) {
    fprintf(stderr, "lock_waits: a %s process failed\n", kNames[int(way)]);
    exit(1);
  }
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: lock_waits DIR [ITERATIONS]\n");
    return 2;
  }
  const std::string file = std::string(argv[1]) + "/lock_waits.file";
  const int iterations = argc > 2 ? atoi(argv[2]) : 300;
  const int fd = open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return 1;
  close(fd);
  printf("# waiters\tway\tlocks_per_s\tmedian_us\tp99_us\tmax_us\n");
  for (int procs : {8, 32}) {
    for (Way way :
         {Way::kBlocking, Way::kInotify, Way::kBackoff, Way::kChosen}) {
      double seconds = 0;
      std::vector<double> w = Run(file, way, procs, iterations, &seconds);
      std::sort(w.begin(), w.end());
      printf("%d\t%s\t%.0f\t%.0f\t%.0f\t%.0f\n", procs, kNames[int(way)],
             double(w.size()) / seconds, w[w.size() / 2],
             w[w.size() * 99 / 100], w.back());
    }
  }
  unlink(file.c_str());
  return 0;
}
