// What the module needs of the C++ runtime it carries.
//
// Release builds link libstdc++ and libgcc statically into pam_defender.so
// and its configuration plugin (see meson.build): sshd, sudo and login are C
// programs, and loading the shared libstdc++ into each of their processes
// costs more than a login's work. With that static runtime this file
//
// - allocates the exceptions thrown (__cxa_allocate_exception and its
//   kin, below) with malloc and, when memory has run out, from a small
//   reserve of its own, so that a login that runs out of memory gets its
//   std::bad_alloc and follows the failure policy. libsupc++'s own
//   allocator keeps an emergency buffer of about 72 KB instead, malloc'd
//   when the object is loaded (in every login, which costs it about 3 µs)
//   and freed only through __gnu_cxx::__freeres(); when even that malloc
//   failed, the first exception ended the host process (tests/pam/
//   oom_test.py);
// - keeps the runtime's per-thread exception state without a thread-local
//   variable (below, __cxa_get_globals), so that the module has no TLS
//   segment;
// - replaces the default terminate handler, which writes the exception's
//   demangled type to the host process's stderr (the module must never
//   write there) and links the name demangler into every login, and the
//   handler of failed _GLIBCXX_ASSERTIONS checks, which prints them there.
//
// With the shared libstdc++ (sanitizer builds) none of this applies: the
// allocator and the handlers belong to the whole process. runtime_throw.cc is
// the module's other part of this.
#ifdef DEFENDER_STATIC_RUNTIME

#include <cxxabi.h>
#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "pam_defender/runtime_abi.h"

extern "C" {
int __cxa_atexit(void (*fn)(void*), void* arg, void* dso);
extern void* __dso_handle;
}

namespace defender {
namespace {

// kCount blocks of kSize bytes in static storage, for when malloc has
// failed: Take() claims a free one, zeroed (nullptr when all are taken),
// Give() frees it again. Safe from any thread.
template <size_t kSize, int kCount>
class StaticBlocks {
 public:
  void* Take() noexcept {
    for (int i = 0; i < kCount; ++i) {
      if (!taken_[i].exchange(true)) {
        memset(blocks_[i], 0, kSize);
        return blocks_[i];
      }
    }
    return nullptr;
  }
  // False, changing nothing, when `p` is not one of the blocks.
  bool Give(void* p) noexcept {
    const auto* b = static_cast<unsigned char*>(p);
    if (b < &blocks_[0][0] || b >= &blocks_[0][0] + sizeof blocks_) {
      return false;
    }
    taken_[(b - &blocks_[0][0]) / kSize].store(false);
    return true;
  }

 private:
  alignas(16) unsigned char blocks_[kCount][kSize] = {};
  std::atomic<bool> taken_[kCount] = {};
};

// The C++ runtime's per-thread exception state: the exceptions being
// handled and the count of uncaught ones (libsupc++'s __cxa_eh_globals,
// two words; room is left). libsupc++ keeps it in a thread-local variable,
// and an object with thread-local storage costs every login that loads it
// about 5 µs more (bench/README.md), although a login throws nothing. It
// is kept under a pthread key instead, made when an exception is first
// thrown or caught in this object, deleted when the object is unloaded (the
// configuration plugin at dlclose; the module, never unloaded, at exit); a
// thread keeps the state it got first. When memory has run out, a thread
// takes one of a few spare states. When no key can be had (the process has
// used up its 1,024, or the unload handler that deletes it could not be
// registered: the key's destructor is this object's code), or the spares
// are all taken, threads without a state of their own share one, from then
// on: an exception thrown in two of those at once would corrupt it.
struct EhGlobals {
  void* words[4];
};

bool g_cleanup_registered = false;  // RegisterRuntimeCleanup succeeded.
pthread_once_t g_eh_once = PTHREAD_ONCE_INIT;
pthread_key_t g_eh_key;
bool g_eh_key_made = false;
constinit StaticBlocks<sizeof(EhGlobals), 8> g_eh_spares;
std::atomic<bool> g_eh_shared_used{false};
EhGlobals g_eh_shared;

// The key's destructor, at a thread's exit (never after the object is
// unloaded: the key is deleted first).
void ReleaseEhGlobals(void* p) {
  if (!g_eh_spares.Give(p)) free(p);
}

void MakeEhKey() {
  g_eh_key_made = g_cleanup_registered &&
                  pthread_key_create(&g_eh_key, ReleaseEhGlobals) == 0;
}

EhGlobals* ThreadEhGlobals() noexcept {
  pthread_once(&g_eh_once, MakeEhKey);
  if (!g_eh_key_made) return &g_eh_shared;
  if (void* own = pthread_getspecific(g_eh_key)) {
    return static_cast<EhGlobals*>(own);
  }
  if (g_eh_shared_used.load()) return &g_eh_shared;
  void* g = calloc(1, sizeof(EhGlobals));
  if (g == nullptr) g = g_eh_spares.Take();
  if (g != nullptr && pthread_setspecific(g_eh_key, g) == 0) {
    return static_cast<EhGlobals*>(g);
  }
  if (g != nullptr) ReleaseEhGlobals(g);
  g_eh_shared_used.store(true);
  return &g_eh_shared;
}

void FreeRuntimeBuffers(void*) {
  if (g_eh_key_made) {
    // Other threads' states are lost with the key (a few words each).
    ReleaseEhGlobals(pthread_getspecific(g_eh_key));
    pthread_key_delete(g_eh_key);
    g_eh_key_made = false;
  }
}

#if defined(__x86_64__)
// Exception objects. libsupc++ puts its header (__cxa_refcounted_exception)
// in front of each thrown object, and a dependent exception (std::
// rethrow_exception) is a header alone; their sizes are those of GCC's
// x86-64 libsupc++ (runtime_abi.h, checked by tests/pam/eh_sizes_test.cc).
// Both are zeroed, as libsupc++ expects. When calloc fails, a block of the
// reserve is used: a few exceptions in flight at once, each up to
// kReserveBlock bytes (a std::bad_alloc needs 136); beyond that
// std::terminate, as libsupc++ does when its buffer is exhausted. 1 KB in
// all: the module's .bss must end in the page its data segment maps from
// the file, or the loader maps anonymous memory as well, in every login
// (5-10 µs; checked by tests/pam/load_time_code_test.py).
constexpr size_t kReserveBlock = 256;
constinit StaticBlocks<kReserveBlock, 4> g_reserve;

void* Allocate(size_t size) noexcept {
  void* p = calloc(1, size);
  if (p == nullptr && size <= kReserveBlock) p = g_reserve.Take();
  if (p == nullptr) std::terminate();
  return p;
}

void Release(void* p) noexcept {
  if (!g_reserve.Give(p)) free(p);
}
#endif  // __x86_64__

// Runs before the module's other constructors, so that the exit handler it
// registers for this module runs after every destructor they register
// (handlers run in reverse order at dlclose).
__attribute__((constructor(101))) void RegisterRuntimeCleanup() {
  g_cleanup_registered =
      __cxa_atexit(&FreeRuntimeBuffers, nullptr, &__dso_handle) == 0;
}

}  // namespace
}  // namespace defender

// Defined here, libsupc++'s eh_alloc.o (with its emergency buffer) is not
// linked in; if new code needs any other symbol of it, the link fails with
// "multiple definition".
#if defined(__x86_64__)
extern "C" void* __cxa_allocate_exception(size_t thrown_size) noexcept {
  return static_cast<unsigned char*>(
             defender::Allocate(thrown_size + defender::kExceptionHeader)) +
         defender::kExceptionHeader;
}
extern "C" void __cxa_free_exception(void* thrown) noexcept {
  defender::Release(static_cast<unsigned char*>(thrown) -
                    defender::kExceptionHeader);
}
extern "C" __cxxabiv1::__cxa_dependent_exception*
__cxa_allocate_dependent_exception() noexcept {
  return static_cast<__cxxabiv1::__cxa_dependent_exception*>(
      defender::Allocate(defender::kDependentException));
}
extern "C" void __cxa_free_dependent_exception(
    __cxxabiv1::__cxa_dependent_exception* p) noexcept {
  defender::Release(p);
}
#endif  // __x86_64__: elsewhere, libsupc++'s own allocator.

// Defined here, libsupc++'s eh_globals.o (and its thread-local variable)
// is not linked in.
extern "C" __cxxabiv1::__cxa_eh_globals*
__cxxabiv1::__cxa_get_globals() noexcept {
  return reinterpret_cast<__cxa_eh_globals*>(defender::ThreadEhGlobals());
}
extern "C" __cxxabiv1::__cxa_eh_globals*
__cxxabiv1::__cxa_get_globals_fast() noexcept {
  return reinterpret_cast<__cxa_eh_globals*>(defender::ThreadEhGlobals());
}

// What a call of a pure virtual function calls (the vtable slot of an
// abstract class during its construction or destruction), and of a deleted
// one: ends the process as libsupc++'s do, without writing to the host's
// stderr. Defined here, the module imports no symbol of the C++ runtime:
// libsupc++'s definitions are referenced weakly and were left out of the
// static link, so the module imported __cxa_pure_virtual, and in a host
// that has the shared libstdc++ loaded (a C++ program) the loader bound it
// there, looking through that library's symbol tables in every login
// (2.6 µs: bench/README.md, "Results", 2026-12-02 evening). Both are
// defined, so that libsupc++'s pure.o, which has both, is never linked in.
extern "C" void __cxa_pure_virtual() { std::abort(); }
extern "C" void __cxa_deleted_virtual() { std::abort(); }

namespace __gnu_cxx {

// std::terminate's default handler: ends the process as libstdc++'s does,
// without printing the exception's type to the host's stderr. Nothing in
// the module lets an exception reach std::terminate (RunModule catches all
// of them, and the plugin's entry point its own), so this runs only on a
// broken invariant, like abort().
void __verbose_terminate_handler() { std::abort(); }

}  // namespace __gnu_cxx

namespace std {

// What libstdc++'s checks call when built with _GLIBCXX_ASSERTIONS (a
// distribution's hardening flags): ends the process as libstdc++'s does,
// without printing the failed check to the host's stderr.
void __glibcxx_assert_fail(const char*, int, const char*,
                           const char*) noexcept {
  std::abort();
}

}  // namespace std

#endif  // DEFENDER_STATIC_RUNTIME
