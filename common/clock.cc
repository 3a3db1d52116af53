#include "common/clock.h"

#include <time.h>

namespace defender {

int64_t SystemClock::Now() const {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec);
}

}  // namespace defender
