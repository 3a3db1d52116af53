// The module loaded and unloaded 1,500 times in one process, as libpam does
// for every PAM handle, with logins in between. LeakSanitizer (the sanitizer
// build) checks every allocation at exit, which finds a leak of any size.
// Without it the heap in use is compared before and after 1,000 cycles, after
// 500 of warm-up: glibc and SQLite keep a few tens of kilobytes of caches that
// settle over the first few hundred cycles (the WAL is checkpointed only every
// few dozen logins), so that bound catches leaks of about 64 bytes or more per
// cycle.
#include <dlfcn.h>
#include <doctest/doctest.h>
#include <malloc.h>

#include <fstream>

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

bool Mapped(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find(path) != std::string::npos) return true;
  }
  return false;
}

// One cycle: our own dlopen/dlclose, and a PAM handle (libpam dlopens the
// module at pam_start and dlcloses it at pam_end) that runs a login every
// fourth cycle, alternately failing and succeeding.
void Cycle(const Env& env, const std::string& module, int i) {
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
}

TEST_CASE("1,500 load/login/unload cycles do not grow the heap") {
  SetNow(1'800'000'000);
  // The store on tmpfs when there is one: this test is about memory, and
  // 2,000 database syncs on a slow disk would only make it long.
  if (Exists("/dev/shm/.")) setenv("TMPDIR", "/dev/shm", 1);
  Env env("[lockout]\nfailure_limit = 5\n");
  const std::string module = ModulePath();
  // Warm-up: libc, libpam and SQLite allocate their one-time state here.
  for (int i = 0; i < 500; ++i) Cycle(env, module, i);
  const size_t before = HeapInUse();
  for (int i = 500; i < 1500; ++i) Cycle(env, module, i);
  const size_t after = HeapInUse();
  MESSAGE("heap in use after 500 cycles: ", before, ", after 1500: ", after);
  CHECK(after < before + 64 * 1024);
  // Nothing keeps the module loaded once the last handle is closed, so
  // every cycle really loaded it afresh.
  CHECK_FALSE(Mapped(module));
  CHECK(Attempts(env.db()).size() == 375);
}

}  // namespace
}  // namespace hardening

int main(int argc, char** argv) {
  return hardening::RunTests(argc, argv, /*needs_root=*/false);
}
