// StoreDir: the local store's directories, created and checked once for
// the local store and the journal of one Backend.
#include "common/store_dir.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/backend.h"
#include "common/config.h"
#include "common/local_store.h"
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

// One Backend's local store and journal share the directories it opened
// and checked: the journal is written in the store's directory.
TEST_CASE("Backend: the local store and the journal share one StoreDir") {
  TempDir tmp;
  Config cfg;
  cfg.dir = tmp / "a";
  Error err;
  auto backend = Backend::Open(cfg, BackendOptions{}, &err);
  REQUIRE_MESSAGE(backend != nullptr, err.message);
  Attempt a;
  a.time = 1'700'000'000;
  a.user = "alice";
  a.service = "sshd";
  a.result = "failure";
  std::string e;
  REQUIRE_MESSAGE(backend->log()->Append(a, &e), e);
  CHECK(Exists(tmp / "a/attempts.journal"));
  CHECK(Exists(tmp / "a/subjects"));
}

// A PAM step's Backend (one_step, as the module opens it) gives its local
// store one lock-wait budget for all its calls; defenderctl's does not
// (LocalStore: "the calls of one step can share one wait budget"). So does
// Redis's local fallback, opened by the first call that finds Redis down
// (nothing listens on port 1: refused at once).
TEST_CASE("Backend: one step's local store shares one wait budget") {
  TempDir tmp;
  Config cfg;
  cfg.dir = tmp / "a";
  BackendOptions options;
  bool redis = false;
  SUBCASE("backend = \"local\"") {}
  SUBCASE("Redis's local fallback") {
    redis = true;
    cfg.backend = StoreBackend::kRedis;
    cfg.redis_url = "redis://127.0.0.1:1/0";
    cfg.redis_on_error = OnError::kLocal;
    options.local_fallback = true;
  }
  bool one_step = false;
  SUBCASE("a PAM step") { one_step = true; }
  SUBCASE("a command") {}
  options.one_step = one_step;
  Error err;
  auto backend = Backend::Open(cfg, options, &err);
  REQUIRE_MESSAGE(backend != nullptr, err.message);
  if (redis) {
    CHECK(backend->local_store() == nullptr);  // Not until Redis fails.
    const Subject alice{SubjectKind::kUser, "alice"};
    std::vector<SubjectState> states;
    std::string e;
    REQUIRE_MESSAGE(
        backend->store()->Get({&alice, 1}, 1'700'000'000, &states, &e), e);
    CHECK_FALSE(backend->fallback_reason().empty());
    REQUIRE(backend->local_store() != nullptr);
  } else {
    REQUIRE(backend->local_store() == backend->store());
  }
  CHECK(backend->local_store()->shares_wait_budget() == one_step);
}

}  // namespace
}  // namespace defender::testing
