#include "common/lazy_libc.h"

#include <dlfcn.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

// The C library's attributes (nonnull, warn_unused_result) are not part of
// a function's type.
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace defender::lazy {
namespace {

TEST_CASE("each lazy function is the one the compiler binds its name to") {
  // The symbol each looks up (LFS and time64 renames included) has the
  // address of the function the C library's header declares.
  int checked = 0;
#define DEFENDER_CHECK_SAME(name, symbol, ...)                         \
  CHECK_MESSAGE(                                                       \
      dlsym(RTLD_DEFAULT, symbol) == reinterpret_cast<void*>(&::name), \
      #name " is looked up as " symbol);                               \
  CHECK(lazy::name.Bind());                                            \
  ++checked;
  DEFENDER_LAZY_LIBC_FUNCTIONS(DEFENDER_CHECK_SAME)
#undef DEFENDER_CHECK_SAME
  CHECK(checked == 55);
}

TEST_CASE("a lazy function is the C library's, looked up at its first call") {
  const Function<decltype(&::getpid)> own_getpid{"getpid"};
  errno = 777;  // The lookup leaves errno alone (errno = 0; readdir()).
  CHECK(own_getpid() == ::getpid());
  CHECK(errno == 777);
  CHECK(lazy::getpid() == ::getpid());
  CHECK(std::string(lazy::strerror(ENOENT)) == ::strerror(ENOENT));

  char dir[] = "/tmp/defender-lazy.XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string file = std::string(dir) + "/f";
  const int fd = open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  CHECK(lazy::fchmod(fd, 0600) == 0);
  CHECK(lazy::ftruncate(fd, 12345) == 0);
  struct stat st;
  REQUIRE(fstat(fd, &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_size == 12345);
  close(fd);
  CHECK(lazy::fchmod(-1, 0600) == -1);
  CHECK(errno == EBADF);
  CHECK(unlink(file.c_str()) == 0);
  CHECK(rmdir(dir) == 0);
}

TEST_CASE(
    "a function the C library lacks fails as the function reports "
    "failure, with ENOSYS") {
  const Function<decltype(&::getpid)> absent{"defender_no_such_function"};
  CHECK_FALSE(absent.Bind());
  errno = 0;
  CHECK(absent() == -1);
  CHECK(errno == ENOSYS);
  CHECK(dlerror() == nullptr);  // No message of ours left for the host.

  const Function<decltype(&::fdopendir)> absent_dir{"defender_no_such_dir"};
  errno = 0;
  CHECK(absent_dir(0) == nullptr);
  CHECK(errno == ENOSYS);

  const Function<decltype(&::strftime)> absent_strftime{"defender_no_such",
                                                        size_t{0}};
  char buf[8];
  struct tm tm = {};
  CHECK(absent_strftime(buf, sizeof buf, "%Y", &tm) == 0);

  const Function<decltype(&::strerror)> absent_strerror{
      "defender_no_such", const_cast<char*>("unknown error")};
  CHECK(std::string(absent_strerror(ENOENT)) == "unknown error");

  const Function<decltype(&::gai_strerror)> absent_gai{"defender_no_such",
                                                       "no resolver"};
  CHECK(std::string(absent_gai(EAI_NONAME)) == "no resolver");

  const Function<decltype(&::getaddrinfo)> absent_lookup{"defender_no_such",
                                                         EAI_SYSTEM};
  addrinfo* res = nullptr;
  errno = 0;
  CHECK(absent_lookup("localhost", nullptr, nullptr, &res) == EAI_SYSTEM);
  CHECK(errno == ENOSYS);
  CHECK(res == nullptr);

  const Function<decltype(&::freeaddrinfo)> absent_free{"defender_no_such"};
  errno = 0;
  absent_free(nullptr);
  CHECK(errno == ENOSYS);
}

}  // namespace
}  // namespace defender::lazy
