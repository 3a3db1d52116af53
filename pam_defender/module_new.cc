// The module's operator new and delete, on its own heap (module_heap.h),
// in builds that link the C++ runtime into the module (runtime.cc). With
// the shared libstdc++ (sanitizer builds) operator new belongs to the whole
// process, and the sanitizer's runtime replaces it.
//
// Test builds of the module (DEFENDER_TEST_CLOCK) malloc every block, so
// that pam `oom`, which fails malloc from its k-th call on, still fails
// each of the module's allocations in turn.
#include "pam_defender/module_new.h"

#ifdef DEFENDER_STATIC_RUNTIME

#include <cstddef>
#include <new>

#include "pam_defender/module_heap.h"

namespace defender {
namespace {

#ifdef DEFENDER_TEST_CLOCK
constexpr size_t kChunkSize = 0;
#else
constexpr size_t kChunkSize = 64 * 1024;
#endif
constinit ModuleHeap g_heap(kChunkSize);

}  // namespace

void ReleaseModuleHeap() noexcept { g_heap.ReleaseIfUnused(); }

}  // namespace defender

// No new_handler is called: the module throws std::bad_alloc at once.
void* operator new(size_t n) {
  void* p = defender::g_heap.Allocate(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  return defender::g_heap.Allocate(n);
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return defender::g_heap.Allocate(n);
}
void operator delete(void* p) noexcept { defender::g_heap.Free(p); }
void operator delete[](void* p) noexcept { defender::g_heap.Free(p); }
void operator delete(void* p, size_t) noexcept { defender::g_heap.Free(p); }
void operator delete[](void* p, size_t) noexcept { defender::g_heap.Free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept {
  defender::g_heap.Free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  defender::g_heap.Free(p);
}

#else  // !DEFENDER_STATIC_RUNTIME

namespace defender {
void ReleaseModuleHeap() noexcept {}
}  // namespace defender

#endif  // DEFENDER_STATIC_RUNTIME
