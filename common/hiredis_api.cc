#include "common/hiredis_api.h"

#include <dlfcn.h>

#include <atomic>

#include "common/hiredis_soname.h"

namespace defender {
namespace {

std::atomic<const char*> g_test_library{nullptr};

struct Loaded {
  HiredisApi api;
  bool ok = false;
  std::string err;
};

const Loaded& LoadOnce() {
  // Initialised once; a thread that comes meanwhile waits for it (C++11).
  static const Loaded loaded = [] {
    Loaded l;
    l.ok = OpenHiredis(HiredisLibrary(), &l.api, &l.err);
    return l;
  }();
  return loaded;
}

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
  const Loaded& l = LoadOnce();
  if (!l.ok) {
    *err = l.err;
    return nullptr;
  }
  return &l.api;
}

const HiredisApi& Hiredis() { return LoadOnce().api; }

void UseHiredisLibraryForTest(const char* library) {
  g_test_library.store(library);
}

}  // namespace defender
