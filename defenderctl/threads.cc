#include "defenderctl/threads.h"

#include <sched.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace defender::ctl {
int Processors() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

void RunOnThreads(int threads, const std::function<void()>& work) {
  std::mutex mu;
  std::exception_ptr first;
  const auto run = [&] {
    try {
      work();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!first) first = std::current_exception();
    }
  };
  std::vector<std::jthread> helpers;
  const int n = std::min(threads, Processors());
  for (int i = 1; i < n; ++i) {
    try {
      helpers.emplace_back(run);
    } catch (const std::system_error&) {
      break;  // No thread to be had (EAGAIN): fewer do the work.
    }
  }
  run();
  helpers.clear();  // Joins them.
  if (first) std::rethrow_exception(first);
}

}  // namespace defender::ctl
