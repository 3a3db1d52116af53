// Work spread over threads, where the program allows threads: defenderctl
// installs a runner (defenderctl/threads.h) that starts them; the module
// installs none, so that nothing in it starts a thread for this, and the
// work runs on the caller's thread alone.
#ifndef PAM_DEFENDER_COMMON_PARALLEL_H_
#define PAM_DEFENDER_COMMON_PARALLEL_H_

#include <functional>

namespace defender {

// Runs `work` on up to `threads` threads at once, the caller's among them,
// and returns once every one has returned from it. An exception `work`
// throws on any of them reaches the caller (the first one, once all have
// returned). `work` must share its input between the threads itself.
using ParallelRunner = void (*)(int threads, const std::function<void()>& work);

// Installs `runner` for RunParallel (nullptr: none). Not thread-safe: call
// it before any RunParallel, from main().
void SetParallelRunner(ParallelRunner runner);

// Runs `work` with the installed runner, or once on the caller's thread
// when there is none or `threads` is 1 or less.
void RunParallel(int threads, const std::function<void()>& work);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_PARALLEL_H_
