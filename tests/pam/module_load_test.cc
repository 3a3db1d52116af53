#include <dlfcn.h>
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/support/pam_stack.h"
#include "tests/support/process.h"

namespace defender::testing {
namespace {

// Meson's shared_module does not check for undefined symbols; this does,
// the way a PAM application loads the module.
TEST_CASE("the installed module dlopens with RTLD_NOW") {
  for (const std::string& path : {ModulePath(true), ModulePath()}) {
    CAPTURE(path);
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    REQUIRE_MESSAGE(lib != nullptr, dlerror());
    CHECK(dlsym(lib, "pam_sm_authenticate") != nullptr);
    CHECK(dlsym(lib, "pam_sm_setcred") != nullptr);
    CHECK(dlsym(lib, "pam_sm_acct_mgmt") != nullptr);
    CHECK(dlsym(lib, "pam_sm_open_session") == nullptr);
    dlclose(lib);
  }
}

TEST_CASE("the module exports only pam_sm_* symbols") {
  const RunResult nm = Spawn({"nm", "-D", "--defined-only", ModulePath(true)});
  CHECK(nm.status == 0);
  CHECK(nm.err == "");
  std::vector<std::string> exported;
  std::istringstream lines(nm.out);
  for (std::string l; std::getline(lines, l);) {
    const size_t sp = l.rfind(' ');
    exported.push_back(sp == std::string::npos ? l : l.substr(sp + 1));
  }
  CHECK(exported == std::vector<std::string>{"pam_sm_acct_mgmt",
                                             "pam_sm_authenticate",
                                             "pam_sm_setcred"});
}

}  // namespace
}  // namespace defender::testing
