// StoreDir: the local store's directories, checked once and reused by the
// steps of one PAM handle, but never by another process or for another
// directory.
#include "common/store_dir.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/backend.h"
#include "common/config.h"
#include "tests/support/files.h"

namespace defender::testing {
namespace {

TEST_CASE("StoreDir: creates both directories 0700 and checks them") {
  TempDir tmp;
  const std::string dir = tmp / "state";
  const mode_t old = umask(0);
  Error err;
  std::shared_ptr<StoreDir> d = StoreDir::Open(dir, &err);
  umask(old);
  REQUIRE_MESSAGE(d != nullptr, err.message);
  struct stat st;
  REQUIRE(stat((dir + "/subjects").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(fstat(d->subjects_fd(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  REQUIRE(chmod(dir.c_str(), 0777) == 0);
  CHECK(StoreDir::Open(dir, &err) == nullptr);
  CHECK(err.kind == ErrorKind::kCorrupt);
  CHECK(StoreDir::Open("relative", &err) == nullptr);
  CHECK(err.message ==
        "relative: the store directory must be an absolute path");
}

TEST_CASE("StoreDir: reusable by this process, for this directory only") {
  TempDir tmp;
  Error err;
  std::shared_ptr<StoreDir> d = StoreDir::Open(tmp / "s", &err);
  REQUIRE(d != nullptr);
  CHECK(d->Reusable(tmp / "s"));
  CHECK_FALSE(d->Reusable(tmp / "other"));
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(d->Reusable(tmp / "s") ? 1 : 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // Not reused after fork().
}

TEST_CASE("Backend: the caller's StoreDir slot is reused, or replaced") {
  TempDir tmp;
  Config cfg;
  cfg.dir = tmp / "a";
  std::shared_ptr<StoreDir> slot;
  BackendOptions options;
  options.store_dir = &slot;
  Error err;
  auto first = Backend::Open(cfg, options, &err);
  REQUIRE(first != nullptr);
  REQUIRE(slot != nullptr);
  const StoreDir* opened = slot.get();
  first.reset();
  auto second = Backend::Open(cfg, options, &err);
  REQUIRE(second != nullptr);
  CHECK(slot.get() == opened);  // Checked once for both steps.
  second.reset();
  cfg.dir = tmp / "b";
  auto third = Backend::Open(cfg, options, &err);
  REQUIRE(third != nullptr);
  CHECK(slot->path() == tmp / "b");
}

}  // namespace
}  // namespace defender::testing
