// C library functions that no common login step calls, bound at their first
// call instead of when the module is loaded.
//
// libpam loads a module with RTLD_NOW: before the first step the loader
// looks up every function the module imports in each library of the host
// process, in every login (about 0.1 µs each in a small process, more in
// sshd's two dozen libraries). Spawning hooks, talking to Redis, resolving
// names, compiling the configuration and the store's upkeep use 47 C
// library functions that a login on the local store does not call. Each of
// those is named here; the code calls `lazy::fork()` where it would call
// `fork()`, and the function is looked up by name at its first call in the
// process (dlsym(RTLD_DEFAULT): what the loader would have bound, an
// LD_PRELOAD interposer included) and called through that pointer from then
// on. doc/DESIGN.md §7, "Fewer imports".
//
// Contract:
//   - lazy::f(args...) does what f(args...) does, with f's signature (the
//     pointer has the type of &::f, from the C library's own header); the
//     lookup leaves errno as it was.
//   - If the C library has no such function, the call fails the way f
//     reports failure, with errno ENOSYS: -1, a null pointer, or the value
//     given where that is not f's way (0 for strftime, EAI_SYSTEM for the
//     getaddrinfo family, a fixed text for strerror and gai_strerror).
//   - The first call takes the loader's lock (dlsym), so it is neither
//     async-signal-safe nor safe between fork() and exec in a threaded
//     process: code that runs there calls Bind() on each function it needs
//     before it forks.
//   - Thread-safe: concurrent first calls each look the function up and
//     store the same pointer. No constructor runs at load (constinit).
#ifndef DEFENDER_COMMON_LAZY_LIBC_H_
#define DEFENDER_COMMON_LAZY_LIBC_H_

#include <dirent.h>
#include <dlfcn.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
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

  // `missing` is what a call returns when the C library has no `symbol`.
  constexpr explicit Function(const char* symbol) : symbol_(symbol) {}
  template <typename R = Result>
  requires(!std::is_void_v<R>) constexpr Function(const char* symbol, R missing)
      : symbol_(symbol), missing_(missing) {}

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
  struct Nothing {};
  static constexpr auto DefaultMissing() {
    if constexpr (std::is_void_v<Result>) {
      return Nothing{};
    } else if constexpr (std::is_pointer_v<Result>) {
      return Result{nullptr};
    } else {
      return Result(-1);
    }
  }

  const char* symbol_;
  std::conditional_t<std::is_void_v<Result>, Nothing, Result> missing_ =
      DefaultMissing();
  mutable std::atomic<void*> fn_{nullptr};
};

// The name the C library's header binds `name` to: with 64-bit file offsets
// (as this project is built) some calls are the "64" variants.
#ifdef __USE_FILE_OFFSET64
#define DEFENDER_LFS_NAME(name) #name "64"
#else
#define DEFENDER_LFS_NAME(name) #name
#endif

#define DEFENDER_LAZY(name, ...) \
  inline constinit const Function<decltype(&::name)> name { __VA_ARGS__ }

// The functions' attributes (nonnull, warn_unused_result) are not part of
// their types.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

// Hook processes (common/hooks.cc).
DEFENDER_LAZY(fork, "fork");
DEFENDER_LAZY(execve, "execve");
DEFENDER_LAZY(chdir, "chdir");
DEFENDER_LAZY(dup2, "dup2");
DEFENDER_LAZY(close_range, "close_range");
DEFENDER_LAZY(kill, "kill");
DEFENDER_LAZY(setpgid, "setpgid");
DEFENDER_LAZY(setsid, "setsid");
DEFENDER_LAZY(setresgid, "setresgid");
DEFENDER_LAZY(sigprocmask, "sigprocmask");
DEFENDER_LAZY(sigtimedwait, "sigtimedwait");
DEFENDER_LAZY(waitpid, "waitpid");

// Redis connections (common/redis_conn.cc).
DEFENDER_LAZY(socket, "socket");
DEFENDER_LAZY(connect, "connect");
DEFENDER_LAZY(poll, "poll");
DEFENDER_LAZY(getsockopt, "getsockopt");
DEFENDER_LAZY(setsockopt, "setsockopt");
DEFENDER_LAZY(sigpending, "sigpending");
DEFENDER_LAZY(sigismember, "sigismember");

// Name resolution (common/resolve.cc, common/redis_conn.cc).
DEFENDER_LAZY(getaddrinfo, "getaddrinfo", EAI_SYSTEM);
DEFENDER_LAZY(getaddrinfo_a, "getaddrinfo_a", EAI_SYSTEM);
DEFENDER_LAZY(gai_suspend, "gai_suspend", EAI_SYSTEM);
DEFENDER_LAZY(gai_error, "gai_error", EAI_SYSTEM);
DEFENDER_LAZY(gai_cancel, "gai_cancel", EAI_SYSTEM);
DEFENDER_LAZY(gai_strerror, "gai_strerror", "name resolution unavailable");
DEFENDER_LAZY(freeaddrinfo, "freeaddrinfo");

// Loading the configuration plugin and libhiredis.
DEFENDER_LAZY(dlopen, "dlopen");
DEFENDER_LAZY(dlclose, "dlclose");
DEFENDER_LAZY(dlerror, "dlerror");
DEFENDER_LAZY(dladdr, "dladdr", 0);

// Files written once or rarely: store key, directories, compiled
// configurations, listings.
DEFENDER_LAZY(getrandom, "getrandom");
DEFENDER_LAZY(fchmod, "fchmod");
DEFENDER_LAZY(linkat, "linkat");
DEFENDER_LAZY(renameat, "renameat");
DEFENDER_LAZY(mkdir, "mkdir");
DEFENDER_LAZY(mkdirat, "mkdirat");
DEFENDER_LAZY(fsync, "fsync");
DEFENDER_LAZY(ftruncate, DEFENDER_LFS_NAME(ftruncate));
DEFENDER_LAZY(fdopendir, "fdopendir");
DEFENDER_LAZY(readdir, DEFENDER_LFS_NAME(readdir));
DEFENDER_LAZY(closedir, "closedir");

// Messages and names.
DEFENDER_LAZY(strerror, "strerror", const_cast<char*>("unknown error"));
DEFENDER_LAZY(gmtime_r, "gmtime_r");
DEFENDER_LAZY(localtime_r, "localtime_r");
DEFENDER_LAZY(strftime, "strftime", size_t{0});
DEFENDER_LAZY(gethostname, "gethostname");
DEFENDER_LAZY(getpid, "getpid");

#pragma GCC diagnostic pop
#undef DEFENDER_LAZY
#undef DEFENDER_LFS_NAME

}  // namespace defender::lazy

#endif  // DEFENDER_COMMON_LAZY_LIBC_H_
