#include "common/lazy_libc.h"

#include <cerrno>

namespace defender::lazy {

void* Lookup(std::atomic<void*>* slot, const char* symbol) noexcept {
  void* fn = slot->load(std::memory_order_acquire);
  if (fn != nullptr) return fn;
  const int saved = errno;  // errno = 0; lazy::readdir(d) must stay exact.
  fn = ::dlsym(RTLD_DEFAULT, symbol);
  if (fn != nullptr) {
    slot->store(fn, std::memory_order_release);
  } else {
    ::dlerror();  // The host thread's next dlerror() is not ours.
  }
  errno = saved;
  return fn;
}

}  // namespace defender::lazy
