#include "common/hiredis_api.h"

#include <dlfcn.h>

#include <atomic>

#include "common/hiredis_soname.h"
#include "common/mutex.h"

namespace defender {
namespace {

// Trivially destructible, so that no code runs for them when the process
// exits (the module is never unloaded before). g_api is written once, under
// g_mutex, before g_loaded is set.
std::atomic<const char*> g_test_library{nullptr};
Mutex g_mutex;
std::atomic<bool> g_loaded{false};
HiredisApi g_api;

template <typename F>
bool Resolve(void* handle, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(handle, name));
  return *out != nullptr;
}

}  // namespace

const char* HiredisLibrary() {
  const char* test = g_test_library.load();
  return test != nullptr ? test : DEFENDER_HIREDIS_SONAME;
}

bool OpenHiredis(const char* library, HiredisApi* api, std::string* err) {
  dlerror();
  void* handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  HiredisApi a;
  const bool ok =
      handle != nullptr &&
      Resolve(handle, "redisConnectFd", &a.redisConnectFd) &&
      Resolve(handle, "redisFree", &a.redisFree) &&
      Resolve(handle, "redisAppendCommandArgv", &a.redisAppendCommandArgv) &&
      Resolve(handle, "redisBufferWrite", &a.redisBufferWrite) &&
      Resolve(handle, "redisReaderFeed", &a.redisReaderFeed) &&
      Resolve(handle, "redisReaderGetReply", &a.redisReaderGetReply) &&
      Resolve(handle, "freeReplyObject", &a.freeReplyObject);
  if (!ok) {
    const char* why = dlerror();
    *err = std::string("cannot load ") + library + ": " +
           (why != nullptr ? why : "unknown error");
    // Nothing from it is in use yet: a library without these functions is
    // not kept.
    if (handle != nullptr) dlclose(handle);
    return false;
  }
  *api = a;
  return true;
}

const HiredisApi* LoadHiredis(std::string* err) {
  if (!g_loaded.load(std::memory_order_acquire)) {
    MutexLock lock(&g_mutex);
    if (!g_loaded.load(std::memory_order_relaxed)) {
      if (!OpenHiredis(HiredisLibrary(), &g_api, err)) return nullptr;
      g_loaded.store(true, std::memory_order_release);
    }
  }
  return &g_api;
}

const HiredisApi& Hiredis() { return g_api; }

void UseHiredisLibraryForTest(const char* library) {
  g_test_library.store(library);
}

}  // namespace defender
