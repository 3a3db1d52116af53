// defenderctl's ParallelRunner (common/parallel.h): std::threads.
#ifndef PAM_DEFENDER_DEFENDERCTL_THREADS_H_
#define PAM_DEFENDER_DEFENDERCTL_THREADS_H_

#include <functional>

namespace defender::ctl {

// The processors this process may run on (its affinity mask), at least 1.
int Processors();

// Runs `work` on the caller's thread and on up to threads - 1 more, no
// more in all than the processors this process may run on. A thread that
// cannot be started is done without. The first exception thrown on any of
// them is rethrown once all have returned.
void RunOnThreads(int threads, const std::function<void()>& work);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_THREADS_H_
