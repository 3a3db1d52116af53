// Unloading a module that carries its own copy of the C++ runtime.
//
// Release builds link libstdc++ and libgcc statically into pam_defender.so
// (see meson.build): sshd, sudo and login are C programs, and loading the
// shared libstdc++ into each of their processes costs more than a login's
// work. The static copy allocates an emergency buffer for exceptions (about
// 72 KB) when it is loaded and, in GCC 12, frees it only through
// __gnu_cxx::__freeres(), which nothing calls when a module is unloaded. Since
// libpam loads and unloads the module for every PAM handle, a process that
// authenticates repeatedly would lose that much per handle; this file frees
// the buffer when the module is unloaded, after every other destructor of
// the module has run (none of which may then allocate an exception). Only
// built with the static runtime: with the shared libstdc++ the buffer
// belongs to the whole process.
#ifdef DEFENDER_STATIC_RUNTIME

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

#endif  // DEFENDER_STATIC_RUNTIME
