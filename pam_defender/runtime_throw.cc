// The std::__throw_* helpers the module's code calls, defined here so that
// libstdc++'s own are not linked into pam_defender.so (static runtime only;
// see runtime.cc).
//
// The linker copies a runtime object file into the module when the module
// refers to a symbol it defines, and everything that file refers to with it.
// libstdc++'s functexcept.o defines every std::__throw_* helper the library
// headers call (vector growth, string bounds, operator new); it drags in the
// copy-on-write string, the exception classes' transactional-memory clones
// and std::random_device, and with them imports (_ITM_*, gettext,
// arc4random, ...) that the loader looks up in every login process, through
// every library of sshd, and about 70 KB of code. If new code calls a helper
// not defined here, functexcept.o is linked again and the link fails with
// "multiple definition": the two are never mixed silently.
//
// Only the module uses this file: the configuration plugin's parser calls
// helpers of every kind, and it is loaded only when the configuration
// changed.
#ifdef DEFENDER_STATIC_RUNTIME

#include <exception>
#include <new>

namespace defender {

// What the std::__throw_* helpers below throw for the library's logic
// errors (a length or position out of range): RunModule catches it as a
// std::exception and logs what() ("basic_string::_M_create", ...) before it
// follows the failure policy, as it would for std::length_error.
class RuntimeError final : public std::exception {
 public:
  explicit RuntimeError(const char* what) noexcept : what_(what) {}
  const char* what() const noexcept override { return what_; }

 private:
  const char* what_;
};

}  // namespace defender

namespace std {

// Out of memory: the same exceptions as libstdc++'s own helpers.
void __throw_bad_alloc() { throw std::bad_alloc(); }
void __throw_bad_array_new_length() { throw std::bad_array_new_length(); }

// The library's logic errors; `fmt` is the message's format, kept as it is.
void __throw_length_error(const char* what) {
  throw defender::RuntimeError(what);
}
void __throw_logic_error(const char* what) {
  throw defender::RuntimeError(what);
}
void __throw_out_of_range_fmt(const char* fmt, ...) {
  throw defender::RuntimeError(fmt);
}

}  // namespace std

#endif  // DEFENDER_STATIC_RUNTIME
