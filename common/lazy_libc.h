// C library functions that no login on the local store calls, bound at
// their first call instead of when the module is loaded.
//
// libpam loads a module with RTLD_NOW: before the first step the loader
// looks up every function the module imports in each library of the host
// process, in every login (about 0.1 µs each in a small process, more in
// sshd's two dozen libraries). Spawning hooks, Redis connections, name
// resolution, the store's and the configuration's upkeep and a setuid
// caller's local login use 50 C library functions that a login on the
// local store over the network does not call. Each of
// those is named here; the code calls `lazy::fork()` where it would call
// `fork()`, and the function is looked up by name at its first call in the
// process (dlsym(RTLD_DEFAULT): what the loader would have bound, an
// LD_PRELOAD interposer included) and called through that pointer from then
// on. A login on Redis looks up the ten or so its connection uses, at about
// 50 ns each: what importing them cost. doc/DESIGN.md §7, "Fewer imports".
//
// Contract:
//   - lazy::f(args...) does what f(args...) does, with f's signature (the
//     pointer has the type of &::f, from the C library's own header); the
//     lookup leaves errno as it was.
//   - If the C library has no such function, the call fails the way f
//     reports failure, with errno ENOSYS: -1, a null pointer, or the value
//     given where that is not f's way (0 for strftime, EAI_SYSTEM for the
//     getaddrinfo family, a fixed text for strerror and gai_strerror), and
//     leaves no dlerror() message behind.
//   - A first call clears the calling thread's pending dlerror() message
//     (dlsym does): dlopen and its kin are not here, so that nothing runs
//     between a failed dlopen and its dlerror.
//   - The first call takes the loader's lock (dlsym), so it is neither
//     async-signal-safe nor safe between fork() and exec in a threaded
//     process: code that runs there calls Bind() on each function it needs
//     before it forks.
//   - Thread-safe: concurrent first calls each look the function up and
//     store the same pointer. No constructor runs at load (constinit).
//   - Calls skip _FORTIFY_SOURCE's checked variants (poll, gethostname).
#ifndef DEFENDER_COMMON_LAZY_LIBC_H_
#define DEFENDER_COMMON_LAZY_LIBC_H_

#include <dirent.h>
#include <dlfcn.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <type_traits>
#include <utility>

namespace defender::lazy {

// The function's address: the one already looked up, else dlsym's answer
// (stored in *slot when not null).
void* Lookup(std::atomic<void*>* slot, const char* symbol) noexcept;

template <typename Fn>
struct Returns;
template <typename R, typename... A>
struct Returns<R (*)(A...)> {
  using type = R;
};
template <typename R, typename... A>
struct Returns<R (*)(A...) noexcept> {
  using type = R;
};

// One C library function, named `symbol`, of pointer type Fn.
template <typename Fn>
class Function {
 public:
  using Result = typename Returns<Fn>::type;
  struct Nothing {};
  using Missing = std::conditional_t<std::is_void_v<Result>, Nothing, Result>;

  // `missing` is what a call returns when the C library has no `symbol`;
  // by default -1 or a null pointer.
  constexpr explicit Function(const char* symbol)
      : symbol_(symbol), missing_(DefaultMissing()) {}
  constexpr Function(const char* symbol, Missing missing)
      : symbol_(symbol), missing_{missing} {}

  // Looks the function up now; false if the C library has none.
  bool Bind() const noexcept { return Lookup(&fn_, symbol_) != nullptr; }

  template <typename... A>
  Result operator()(A&&... args) const noexcept {
    void* fn = Lookup(&fn_, symbol_);
    if (fn == nullptr) {
      errno = ENOSYS;
      if constexpr (!std::is_void_v<Result>)
        return missing_;
      else
        return;
    }
    return reinterpret_cast<Fn>(fn)(std::forward<A>(args)...);
  }

 private:
  static constexpr Missing DefaultMissing() {
    if constexpr (std::is_void_v<Result>) {
      return Nothing{};
    } else if constexpr (std::is_pointer_v<Result>) {
      return nullptr;
    } else {
      return Result(-1);
    }
  }

  const char* symbol_;
  Missing missing_;
  mutable std::atomic<void*> fn_{nullptr};
};

// The symbol the C library's header binds `name` to. With 64-bit file
// offsets (as this project is built) some are the "64" variants; with a
// 64-bit time_t on a 32-bit target, those that take a time_t or a struct
// holding one are glibc's "time64" variants. Unit `lazy_libc` checks every
// one against the address the compiler binds the name to.
#ifdef __USE_FILE_OFFSET64
#define DEFENDER_LFS_NAME(name) #name "64"
#else
#define DEFENDER_LFS_NAME(name) #name
#endif
#if defined(__USE_TIME_BITS64) && __TIMESIZE == 32
#define DEFENDER_TIME64_NAME(name, time64) time64
#else
#define DEFENDER_TIME64_NAME(name, time64) #name
#endif

// X(name, symbol[, value a call returns when the C library lacks it]).
#define DEFENDER_LAZY_LIBC_FUNCTIONS(X)                                      \
  /* Hook processes (common/hooks.cc). */                                    \
  X(fork, "fork")                                                            \
  X(execve, "execve")                                                        \
  X(chdir, "chdir")                                                          \
  X(dup2, "dup2")                                                            \
  X(close_range, "close_range")                                              \
  X(kill, "kill")                                                            \
  X(setpgid, "setpgid")                                                      \
  X(setsid, "setsid")                                                        \
  X(setresgid, "setresgid")                                                  \
  X(setgroups, "setgroups")                                                  \
  X(getgroups, "getgroups")                                                  \
  X(sched_setscheduler, "sched_setscheduler")                                \
  X(setpriority, "setpriority")                                              \
  X(sigprocmask, "sigprocmask")                                              \
  X(sigtimedwait, DEFENDER_TIME64_NAME(sigtimedwait, "__sigtimedwait64"))    \
  X(waitpid, "waitpid")                                                      \
  X(pipe2, "pipe2")                                                          \
  /* Redis connections (common/redis_conn.cc). */                            \
  X(socket, "socket")                                                        \
  X(connect, "connect")                                                      \
  X(poll, "poll")                                                            \
  X(getsockopt, DEFENDER_TIME64_NAME(getsockopt, "__getsockopt64"))          \
  X(setsockopt, DEFENDER_TIME64_NAME(setsockopt, "__setsockopt64"))          \
  X(sigpending, "sigpending")                                                \
  X(sigismember, "sigismember")                                              \
  /* Name resolution (common/resolve.cc, common/redis_conn.cc). */           \
  X(getaddrinfo, "getaddrinfo", EAI_SYSTEM)                                  \
  X(eventfd, "eventfd")                                                      \
  X(pthread_attr_init, "pthread_attr_init", ENOSYS)                          \
  X(pthread_attr_setdetachstate, "pthread_attr_setdetachstate", ENOSYS)      \
  X(pthread_attr_setstacksize, "pthread_attr_setstacksize", ENOSYS)          \
  X(pthread_attr_destroy, "pthread_attr_destroy", ENOSYS)                    \
  X(pthread_create, "pthread_create", ENOSYS)                                \
  X(gai_strerror, "gai_strerror", "name resolution unavailable")             \
  X(freeaddrinfo, "freeaddrinfo")                                            \
  /* Files written once or rarely: the store's key, directories, compiled */ \
  /* configurations; listings. */                                            \
  X(getrandom, "getrandom")                                                  \
  X(fchmod, "fchmod")                                                        \
  X(linkat, "linkat")                                                        \
  X(renameat, "renameat")                                                    \
  X(mkdir, "mkdir")                                                          \
  X(mkdirat, "mkdirat")                                                      \
  X(fsync, "fsync")                                                          \
  X(ftruncate, DEFENDER_LFS_NAME(ftruncate))                                 \
  X(fdopendir, "fdopendir")                                                  \
  X(readdir, DEFENDER_LFS_NAME(readdir))                                     \
  X(closedir, "closedir")                                                    \
  /* Messages and names. */                                                  \
  X(strerror, "strerror", const_cast<char*>("unknown error"))                \
  X(gmtime_r, DEFENDER_TIME64_NAME(gmtime_r, "__gmtime64_r"))                \
  X(localtime_r, DEFENDER_TIME64_NAME(localtime_r, "__localtime64_r"))       \
  X(strftime, "strftime", size_t{0})                                         \
  X(gethostname, "gethostname")                                              \
  X(getpid, "getpid")                                                        \
  X(gettid, "gettid")                                                        \
  /* A setuid caller's local login (pam_defender/module.cc) and its */       \
  /* scheduling (pam_defender/process_guard.cc). */                          \
  X(getpwnam_r, "getpwnam_r", ENOSYS)                                        \
  X(getpriority, "getpriority")                                              \
  X(sched_getscheduler, "sched_getscheduler")                                \
  X(sched_getparam, "sched_getparam")

// The functions' attributes (nonnull, warn_unused_result) are not part of
// their types.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#define DEFENDER_LAZY_DEFINE(name, ...) \
  inline constinit const Function<decltype(&::name)> name{__VA_ARGS__};
DEFENDER_LAZY_LIBC_FUNCTIONS(DEFENDER_LAZY_DEFINE)
#undef DEFENDER_LAZY_DEFINE
#pragma GCC diagnostic pop

}  // namespace defender::lazy

#endif  // DEFENDER_COMMON_LAZY_LIBC_H_
