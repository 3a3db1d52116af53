// The sizes GCC's x86-64 libsupc++ gives the header it puts in front of a
// thrown object (__cxa_refcounted_exception) and a dependent exception
// (__cxa_dependent_exception, for std::rethrow_exception). runtime.cc
// allocates exceptions for the runtime linked into the module with them;
// tests/pam/eh_sizes_test.cc checks them against the C++ runtime the
// project is built with (a smaller header than libsupc++'s would corrupt
// the heap at every throw).
#ifndef PAM_DEFENDER_PAM_DEFENDER_RUNTIME_ABI_H_
#define PAM_DEFENDER_PAM_DEFENDER_RUNTIME_ABI_H_

#include <cstddef>

namespace defender {

inline constexpr size_t kExceptionHeader = 128;
inline constexpr size_t kDependentException = 112;

}  // namespace defender

#endif  // PAM_DEFENDER_PAM_DEFENDER_RUNTIME_ABI_H_
