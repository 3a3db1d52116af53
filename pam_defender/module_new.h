// The module's operator new and delete (module_new.cc).
#ifndef PAM_DEFENDER_PAM_DEFENDER_MODULE_NEW_H_
#define PAM_DEFENDER_PAM_DEFENDER_MODULE_NEW_H_

namespace defender {

// Gives the module heap's chunks back to malloc if none of their blocks is
// in use: at the end of each step, and when the module is unloaded. A
// no-op where the module has no heap of its own.
void ReleaseModuleHeap() noexcept;

}  // namespace defender

#endif  // PAM_DEFENDER_PAM_DEFENDER_MODULE_NEW_H_
