// 1,500 PAM handles opened and closed one after another in one process, as
// a long-lived service does, with logins in between. The module is linked
// -z nodelete (doc/DESIGN.md §7): it is loaded once and stays, so what must
// hold is that nothing it keeps from handle to handle grows. LeakSanitizer
// (the sanitizer build) checks every allocation at exit, which finds a leak
// of any size. Without it the heap in use is compared before and after 1,000
// cycles, after 500 of warm-up: glibc keeps a few tens of kilobytes of
// caches that settle over the first few hundred cycles, so that bound
// catches leaks of about 64 bytes or more per cycle.
#include <dlfcn.h>
#include <doctest/doctest.h>
#include <malloc.h>

#include "harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define DEFENDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEFENDER_ASAN 1
#endif
#endif

#ifdef DEFENDER_ASAN
// From <sanitizer/allocator_interface.h>, which GCC does not install.
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace hardening {
namespace {

size_t HeapInUse() {
#ifdef DEFENDER_ASAN
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

// One cycle: our own dlopen/dlclose, and a PAM handle (libpam dlopens the
// module at pam_start and dlcloses it at pam_end) that runs a login every
// fourth cycle, alternately failing and succeeding. Returns what dlopen
// returned: the same handle every time when the module stays loaded.
void* Cycle(const Env& env, const std::string& module, int i) {
  void* handle = dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE_MESSAGE(handle != nullptr, dlerror());
  REQUIRE(dlsym(handle, "pam_sm_authenticate") != nullptr);
  Login login;
  login.password = i % 8 ? "secret" : "wrong";
  const LoginResult r = RunLogin(env, login, /*authenticate=*/i % 4 == 0);
  if (i % 4 == 0) REQUIRE(r.auth == (i % 8 ? PAM_SUCCESS : PAM_AUTH_ERR));
  REQUIRE(dlclose(handle) == 0);
  // Our own capture buffer must not count as the module's heap.
  ClearLog();
  CapturedLog().shrink_to_fit();
  return handle;
}

TEST_CASE("1,500 handles with the module resident do not grow the heap") {
  SetNow(1'800'000'000);
  // The store on tmpfs when there is one: this test is about memory, and
  // 2,000 record writes on a slow disk would only make it long.
  if (Exists("/dev/shm/.")) setenv("TMPDIR", "/dev/shm", 1);
  Env env("[lockout]\nfailure_limit = 5\n");
  const std::string module = ModulePath();
  CHECK_FALSE(Mapped(module));
  // Warm-up: libc and libpam allocate their one-time state here.
  void* const first = Cycle(env, module, 0);
  for (int i = 1; i < 500; ++i) CHECK(Cycle(env, module, i) == first);
  const size_t before = HeapInUse();
  for (int i = 500; i < 1500; ++i) CHECK(Cycle(env, module, i) == first);
  const size_t after = HeapInUse();
  MESSAGE("heap in use after 500 cycles: ", before, ", after 1500: ", after);
  CHECK(after < before + 64 * 1024);
  // Loaded at the first dlopen, still there after the last dlclose and
  // pam_end: every handle used the one copy (-z nodelete).
  CHECK(Mapped(module));
  CHECK(Attempts(env.db()).size() == 375);
}

}  // namespace
}  // namespace hardening

int main(int argc, char** argv) {
  return hardening::RunTests(argc, argv, /*needs_root=*/false);
}
