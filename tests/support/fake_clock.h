// A test double: a Clock that only moves when told to, so that tests move
// time instead of sleeping.
#ifndef DEFENDER_TESTS_SUPPORT_FAKE_CLOCK_H_
#define DEFENDER_TESTS_SUPPORT_FAKE_CLOCK_H_

#include <cstdint>

#include "common/clock.h"

namespace defender {

// A clock that only moves when told to. For tests.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now = 1'700'000'000) : now_(now) {}
  int64_t Now() const override { return now_; }
  void Set(int64_t now) { now_ = now; }
  void Advance(int64_t seconds) { now_ += seconds; }

 private:
  int64_t now_;
};

}  // namespace defender

#endif  // DEFENDER_TESTS_SUPPORT_FAKE_CLOCK_H_
