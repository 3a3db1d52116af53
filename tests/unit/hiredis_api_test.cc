// The loader of libhiredis (common/hiredis_api.h): the library built
// against loads with every function; a missing library or a library without
// the functions is an error that names it and says why.
#include "common/hiredis_api.h"

#include <doctest/doctest.h>

#include <string>

namespace defender {
namespace {

// Runs before any other test of this program loads hiredis.
TEST_CASE("a failed load is tried again; a successful one is kept") {
  std::string err;
  UseHiredisLibraryForTest("libhiredis-missing.so.0");
  CHECK(LoadHiredis(&err) == nullptr);
  CHECK(err ==
        "cannot load libhiredis-missing.so.0: libhiredis-missing.so.0: cannot "
        "open shared object file: No such file or directory");
  CHECK((Hiredis().redisConnectFd == nullptr));

  UseHiredisLibraryForTest(nullptr);
  err.clear();
  const HiredisApi* api = LoadHiredis(&err);
  REQUIRE_MESSAGE(api != nullptr, err);
  CHECK(err == "");
  CHECK(&Hiredis() == api);
  CHECK((api->redisConnectFd != nullptr));

  UseHiredisLibraryForTest("libhiredis-missing.so.0");
  CHECK(LoadHiredis(&err) == api);
  UseHiredisLibraryForTest(nullptr);
}

TEST_CASE("the hiredis soname found at build time loads with every function") {
  CHECK(std::string(HiredisLibrary()).rfind("libhiredis.so.", 0) == 0);
  HiredisApi api;
  std::string err;
  REQUIRE_MESSAGE(OpenHiredis(HiredisLibrary(), &api, &err), err);
  CHECK(err == "");
  CHECK((api.redisConnectFd != nullptr));
  CHECK((api.redisFree != nullptr));
  CHECK((api.redisAppendCommandArgv != nullptr));
  CHECK((api.redisBufferWrite != nullptr));
  CHECK((api.redisReaderFeed != nullptr));
  CHECK((api.redisReaderGetReply != nullptr));
  CHECK((api.freeReplyObject != nullptr));

  // The table LoadHiredis keeps has the same functions.
  const HiredisApi* loaded = LoadHiredis(&err);
  REQUIRE_MESSAGE(loaded != nullptr, err);
  CHECK((loaded->redisConnectFd == api.redisConnectFd));
  CHECK((loaded->freeReplyObject == api.freeReplyObject));
}

TEST_CASE("a missing hiredis library is an error naming it") {
  HiredisApi api;
  std::string err;
  CHECK_FALSE(OpenHiredis("libhiredis-missing.so.0", &api, &err));
  CHECK(err ==
        "cannot load libhiredis-missing.so.0: libhiredis-missing.so.0: cannot "
        "open shared object file: No such file or directory");
  CHECK((api.redisConnectFd == nullptr));
}

TEST_CASE("a library without the hiredis functions is an error naming one") {
  HiredisApi api;
  std::string err;
  CHECK_FALSE(OpenHiredis("libc.so.6", &api, &err));
  CHECK(err.rfind("cannot load libc.so.6: ", 0) == 0);
  CHECK(err.size() > std::string("cannot load libc.so.6: ").size());
  CHECK(err.find("undefined symbol: redisConnectFd") != std::string::npos);
  CHECK((api.redisConnectFd == nullptr));
}

}  // namespace
}  // namespace defender
