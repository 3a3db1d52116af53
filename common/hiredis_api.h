// libhiredis, loaded when the Redis store is first used rather than linked:
// the module is loaded into every sshd, sudo, su and login process, and a
// linked library costs each of them its loading (doc/DESIGN.md §13) even
// with the local store, the default.
//
// The functions the project calls are resolved at run time, with
// dlopen(kHiredisSoname, RTLD_NOW | RTLD_LOCAL) and dlsym; the layouts of
// redisContext, redisReader and redisReply still come from the hiredis
// headers at compile time, so the library loaded must be the one built
// against (its soname is found by meson: the option hiredis_soname).
//
// Loading is thread-safe, succeeds at most once per process (per copy of
// the module) and is never undone: hiredis keeps no state of its own to
// free, and a dlclose() while a connection or a reply of another thread is
// alive would unmap code it is about to run. A failure is not remembered:
// the next connection tries again, so that a passing one (no free
// descriptor, no memory) does not disable Redis for the life of a
// long-running process.
#ifndef PAM_DEFENDER_COMMON_HIREDIS_API_H_
#define PAM_DEFENDER_COMMON_HIREDIS_API_H_

#include <hiredis/hiredis.h>

#include <string>

namespace defender {

// The hiredis functions the project calls, with hiredis's own signatures.
struct HiredisApi {
  decltype(&::redisConnectFd) redisConnectFd = nullptr;
  decltype(&::redisFree) redisFree = nullptr;
  decltype(&::redisAppendCommandArgv) redisAppendCommandArgv = nullptr;
  decltype(&::redisBufferWrite) redisBufferWrite = nullptr;
  decltype(&::redisReaderFeed) redisReaderFeed = nullptr;
  decltype(&::redisReaderGetReply) redisReaderGetReply = nullptr;
  decltype(&::freeReplyObject) freeReplyObject = nullptr;
};

// The library LoadHiredis() opens: the soname found at build time, unless
// a test build chose another (UseHiredisLibraryForTest).
const char* HiredisLibrary();

// The table, loaded by the first call that succeeds; later calls return it
// at once. On failure returns nullptr with
// *err = "cannot load <library>: <dlerror>", and the next call tries again.
const HiredisApi* LoadHiredis(std::string* err);

// The table after LoadHiredis() succeeded (holding a redisContext or a
// redisReply made by it proves it did); before, its functions are null.
const HiredisApi& Hiredis();

// Opens `library` and fills *api with every function of HiredisApi. On
// failure returns false with *err = "cannot load <library>: <dlerror>" and
// leaves nothing loaded. Does not touch LoadHiredis()'s table.
bool OpenHiredis(const char* library, HiredisApi* api, std::string* err);

// Test builds only (pam_defender_testclock.so, unit tests): makes
// LoadHiredis() open `library` (nullptr: the built soname again). Has no
// effect once LoadHiredis() has succeeded; the string must outlive its use.
void UseHiredisLibraryForTest(const char* library);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_HIREDIS_API_H_
