// Unloading a module that carries its own copy of the C++ runtime.
//
// Release builds link libstdc++ and libgcc statically into pam_defender.so
// (see meson.build): sshd, sudo and login are C programs, and loading the
// shared libstdc++ into each of their processes costs more than a login's
// work. The static copy allocates an emergency buffer for exceptions (about
// 72 KB) when it is loaded and, in GCC 12, frees it only through
// __gnu_cxx::__freeres(), which nothing calls when a module is unloaded. Since
// libpam loads and unloads the module for every PAM handle, a process that
// authenticates repeatedly would lose that much per handle; this destructor
// frees the buffer when the module is unloaded. Only built with the static
// runtime: with the shared libstdc++ the buffer belongs to the whole process.
#ifdef DEFENDER_STATIC_RUNTIME

namespace __gnu_cxx {
void __freeres() noexcept;
}  // namespace __gnu_cxx

namespace defender {
namespace {

__attribute__((destructor)) void FreeRuntimeBuffers() {
  __gnu_cxx::__freeres();
}

}  // namespace
}  // namespace defender

#endif  // DEFENDER_STATIC_RUNTIME
