// Test build only: PAM_DEFENDER_TEST_NOW (epoch seconds) sets the time.
#include "defenderctl/cli_clock.h"

#include <cstdlib>

namespace defender::ctl {
namespace {

class TestClock final : public Clock {
 public:
  int64_t Now() const override {
    const char* s = getenv("PAM_DEFENDER_TEST_NOW");
    return s ? strtoll(s, nullptr, 10) : SystemClock().Now();
  }
  bool IsRealTime() const override {
    return getenv("PAM_DEFENDER_TEST_NOW") == nullptr;
  }
};

}  // namespace

const Clock& CliClock() {
  static const TestClock clock;
  return clock;
}

}  // namespace defender::ctl
