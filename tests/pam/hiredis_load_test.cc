// libhiredis costs every process that loads the module its loading, so it
// is loaded only when the Redis store is used (common/hiredis_api.h): no
// module (nor defenderctl) links it, a login through the real libpam on the
// local store leaves it unmapped, and a login on the Redis store maps it.
//
// This program links neither hiredis nor anything that loads it before the
// test does: the Redis fixture waits for its server with a plain socket.
#include <doctest/doctest.h>
#include <elf.h>
#include <link.h>
#include <security/pam_appl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/files.h"
#include "tests/support/pam_conversation.h"
#include "tests/support/pam_stack.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace defender::testing {
namespace {

// The DT_NEEDED entries of the ELF file at `path`, read from its dynamic
// section (what `readelf -d` lists as NEEDED).
std::vector<std::string> Needed(const std::string& path) {
  const std::string elf = ReadFile(path);
  ElfW(Ehdr) eh;
  REQUIRE(elf.size() >= sizeof eh);
  memcpy(&eh, elf.data(), sizeof eh);
  REQUIRE(memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0);
  REQUIRE(eh.e_shentsize == sizeof(ElfW(Shdr)));
  REQUIRE(eh.e_shoff + eh.e_shnum * sizeof(ElfW(Shdr)) <= elf.size());
  const auto section = [&](size_t i) {
    ElfW(Shdr) sh;
    memcpy(&sh, elf.data() + eh.e_shoff + i * sizeof sh, sizeof sh);
    return sh;
  };
  std::vector<std::string> needed;
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    const ElfW(Shdr) dynamic = section(i);
    if (dynamic.sh_type != SHT_DYNAMIC) continue;
    REQUIRE(dynamic.sh_link < eh.e_shnum);
    const ElfW(Shdr) strings = section(dynamic.sh_link);
    REQUIRE(dynamic.sh_offset + dynamic.sh_size <= elf.size());
    REQUIRE(strings.sh_offset + strings.sh_size <= elf.size());
    for (size_t at = dynamic.sh_offset;
         at + sizeof(ElfW(Dyn)) <= dynamic.sh_offset + dynamic.sh_size;
         at += sizeof(ElfW(Dyn))) {
      ElfW(Dyn) d;
      memcpy(&d, elf.data() + at, sizeof d);
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag != DT_NEEDED) continue;
      REQUIRE(d.d_un.d_val < strings.sh_size);
      needed.emplace_back(elf.c_str() + strings.sh_offset + d.d_un.d_val);
    }
  }
  return needed;
}

bool NamesHiredis(const std::string& library) {
  return library.rfind("libhiredis", 0) == 0;
}

// True when this process has libhiredis mapped.
bool HiredisMapped() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("/libhiredis.so") != std::string::npos) return true;
  }
  return false;
}

// A store (backend and [redis] lines in `store_toml`) in its own directory,
// with the standard stack on the installed module (real clock) as service
// "hiredis-test"; alice's password is "right".
class Host {
 public:
  explicit Host(const std::string& store_toml) {
    const std::string conf = dir_.Write(
        "defender.toml", "[lockout]\nfailure_limit = 3\n\n[store]\ndir = \"" +
                             dir_.path() + "\"\n" + store_toml);
    const std::string passdb =
        dir_.Write("passdb", "alice:right:hiredis-test\n");
    REQUIRE(mkdir((dir_ / "pam.d").c_str(), 0755) == 0);
    dir_.Write(
        "pam.d/hiredis-test",
        StandardStack(ModulePath(/*real_clock=*/true), "conf=" + conf, passdb),
        0644);
  }

  // In a child process: whether libhiredis was mapped before, then a failed
  // login of alice from 192.0.2.7 and a successful one from 192.0.2.8, each
  // with whether it was mapped at the end of the login, before pam_end,
  // and whether it is mapped after both (the module, and a library it
  // loaded, stay until the process exits). E.g.
  // "before=no fail=7:no ok=0/0:no after=no".
  std::string Logins() const {
    return InChild([this] {
      std::string out =
          std::string("before=") + (HiredisMapped() ? "yes" : "no");
      out += " fail=" + Login("192.0.2.7", "wrong");
      out += " ok=" + Login("192.0.2.8", "right");
      return out + " after=" + (HiredisMapped() ? "yes" : "no");
    });
  }

 private:
  // One login: "AUTH:MAPPED" or "AUTH/ACCOUNT:MAPPED" when auth succeeded.
  std::string Login(const std::string& rhost,
                    const std::string& password) const {
    PamLogin login{.service = "hiredis-test", .user = "alice"};
    login.rhost = rhost;
    PamConversation talk(password);
    pam_handle_t* pamh = StartPam(dir_ / "pam.d", login, &talk);
    if (pamh == nullptr) return "no handle";
    const int auth = pam_authenticate(pamh, 0);
    std::string out = std::to_string(auth);
    if (auth == PAM_SUCCESS)
      out += "/" + std::to_string(pam_acct_mgmt(pamh, 0));
    out += HiredisMapped() ? ":yes" : ":no";
    pam_end(pamh, auth);
    return out;
  }

  TempDir dir_;
};

TEST_CASE("no module and not defenderctl links libhiredis") {
  for (const std::string& path :
       {ModulePath(true), ModulePath(), EnvPath("DEFENDERCTL")}) {
    CAPTURE(path);
    const std::vector<std::string> needed = Needed(path);
    std::string listed;
    for (const std::string& n : needed) listed += n + " ";
    CAPTURE(listed);
    // The dynamic section was read: each links libc.
    CHECK(std::count(needed.begin(), needed.end(), "libc.so.6") == 1);
    CHECK(std::none_of(needed.begin(), needed.end(), NamesHiredis));
  }
}

// The libraries a module may name as NEEDED: libpam and the C library's
// (libm and libdl included). A sanitizer build links the shared C++ runtime
// and the sanitizers' runtimes (DEFENDER_ASAN_PRELOAD is set then).
bool ModuleMayNeed(const std::string& library, bool sanitized) {
  for (const char* name :
       {"libpam.so.", "libc.so.", "libm.so.", "libdl.so.", "ld-linux"}) {
    if (library.rfind(name, 0) == 0) return true;
  }
  if (!sanitized) return false;
  for (const char* name : {"libstdc++.so.", "libgcc_s.so.", "libasan.so.",
                           "libubsan.so.", "libtsan.so.", "liblsan.so."}) {
    if (library.rfind(name, 0) == 0) return true;
  }
  return false;
}

TEST_CASE("the module links libpam and libc only: no SQLite, hiredis, toml++") {
  const char* preload = getenv("DEFENDER_ASAN_PRELOAD");
  const bool sanitized = preload != nullptr && *preload != '\0';
  for (const std::string& path : {ModulePath(true), ModulePath()}) {
    CAPTURE(path);
    const std::vector<std::string> needed = Needed(path);
    for (const std::string& library : needed) {
      CAPTURE(library);
      CHECK(library.rfind("libsqlite3", 0) != 0);
      CHECK(library.find("toml") == std::string::npos);
      CHECK(ModuleMayNeed(library, sanitized));
    }
    CHECK(std::count(needed.begin(), needed.end(), "libpam.so.0") == 1);
  }
}

TEST_CASE("libhiredis is mapped by a login on the Redis store, by no other") {
  // Nothing in this program loaded it (see the top of this file).
  REQUIRE_FALSE(HiredisMapped());

  const Host local("");
  const std::string fail = std::to_string(PAM_AUTH_ERR);
  CHECK(local.Logins() == "before=no fail=" + fail + ":no ok=0/0:no after=no");

  // on_error = "closed": the successful login proves Redis answered.
  RedisServer redis;
  REQUIRE_FALSE(HiredisMapped());
  const Host shared("backend = \"redis\"\n\n[redis]\nurl = \"" + redis.url() +
                    "\"\non_error = \"closed\"\n");
  // Loaded by the first step that used Redis, and never unloaded.
  CHECK(shared.Logins() ==
        "before=no fail=" + fail + ":yes ok=0/0:yes after=yes");
  // The failure was counted in Redis.
  CHECK(InRedis(redis, {SubjectKind::kHost, "192.0.2.7"}, time(nullptr))
            .failures == 1);
}

}  // namespace
}  // namespace defender::testing
