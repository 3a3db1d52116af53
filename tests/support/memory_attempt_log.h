// A test double: an attempt log kept in memory, for unit tests of the
// policy.
#ifndef DEFENDER_TESTS_SUPPORT_MEMORY_ATTEMPT_LOG_H_
#define DEFENDER_TESTS_SUPPORT_MEMORY_ATTEMPT_LOG_H_

#include <string>
#include <vector>

#include "common/attempt_log.h"

namespace defender {

class MemoryAttemptLog final : public AttemptLog {
 public:
  bool Append(const Attempt& a, std::string*) override {
    rows.push_back(a);
    return true;
  }
  std::vector<Attempt> rows;
};

}  // namespace defender

#endif  // DEFENDER_TESTS_SUPPORT_MEMORY_ATTEMPT_LOG_H_
