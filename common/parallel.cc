#include "common/parallel.h"

namespace defender {
namespace {

ParallelRunner runner = nullptr;

}  // namespace

void SetParallelRunner(ParallelRunner r) { runner = r; }

void RunParallel(int threads, const std::function<void()>& work) {
  if (runner == nullptr || threads <= 1) {
    work();
    return;
  }
  runner(threads, work);
}

}  // namespace defender
