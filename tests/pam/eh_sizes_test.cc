// pam_defender/runtime_abi.h's sizes are those the C++ runtime of this
// build uses: libsupc++'s own __cxa_allocate_exception(0) and
// __cxa_allocate_dependent_exception() are called here (this program links
// libstdc++.a, as the module does), with malloc replaced to record the
// size each asks for. x86-64, unsanitized builds only (meson.build).
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>

#include "pam_defender/runtime_abi.h"

extern "C" void* __libc_malloc(size_t);

namespace {
size_t g_last_size = 0;
}  // namespace

extern "C" void* malloc(size_t n) {
  g_last_size = n;
  return __libc_malloc(n);
}

int main() {
  g_last_size = 0;
  void* thrown = __cxxabiv1::__cxa_allocate_exception(0);
  const size_t header = g_last_size;
  __cxxabiv1::__cxa_free_exception(thrown);
  g_last_size = 0;
  __cxxabiv1::__cxa_dependent_exception* dependent =
      __cxxabiv1::__cxa_allocate_dependent_exception();
  const size_t dependent_size = g_last_size;
  __cxxabiv1::__cxa_free_dependent_exception(dependent);
  std::printf(
      "libsupc++: header %zu, dependent exception %zu; "
      "runtime_abi.h: %zu, %zu\n",
      header, dependent_size, defender::kExceptionHeader,
      defender::kDependentException);
  if (header != defender::kExceptionHeader ||
      dependent_size != defender::kDependentException) {
    std::printf("FAIL: pam_defender/runtime_abi.h does not match\n");
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
