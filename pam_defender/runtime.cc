// What the module needs of the C++ runtime it carries.
//
// Release builds link libstdc++ and libgcc statically into pam_defender.so
// and its configuration plugin (see meson.build): sshd, sudo and login are C
// programs, and loading the shared libstdc++ into each of their processes
// costs more than a login's work. With that static runtime this file
//
// - frees what the runtime allocates when the object is unloaded. It
//   allocates an emergency buffer for exceptions (about 72 KB) when it is
//   loaded and, in GCC 12, frees it only through __gnu_cxx::__freeres(),
//   which nothing calls when a module is unloaded. Since libpam loads and
//   unloads the module for every PAM handle, a process that authenticates
//   repeatedly would lose that much per handle; the buffer is freed when the
//   object is unloaded, after every other destructor of it has run (none of
//   which may then allocate an exception);
// - replaces the default terminate handler, which writes the exception's
//   demangled type to the host process's stderr (the module must never
//   write there) and links the name demangler into every login, and the
//   handler of failed _GLIBCXX_ASSERTIONS checks, which prints them there.
//
// With the shared libstdc++ (sanitizer builds) none of this applies: the
// buffer and the handler belong to the whole process. runtime_throw.cc is
// the module's other part of this.
#ifdef DEFENDER_STATIC_RUNTIME

#include <cstdlib>

extern "C" {
int __cxa_atexit(void (*fn)(void*), void* arg, void* dso);
extern void* __dso_handle;
}

namespace __gnu_cxx {
void __freeres() noexcept;
}  // namespace __gnu_cxx

namespace defender {
namespace {

void FreeRuntimeBuffers(void*) { __gnu_cxx::__freeres(); }

// Runs before the module's other constructors, so that the exit handler it
// registers for this module runs after every destructor they register
// (handlers run in reverse order at dlclose).
__attribute__((constructor(101))) void RegisterRuntimeCleanup() {
  __cxa_atexit(&FreeRuntimeBuffers, nullptr, &__dso_handle);
}

}  // namespace
}  // namespace defender

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
