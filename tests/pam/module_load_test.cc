#include <dlfcn.h>
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

// Meson's shared_module does not check for undefined symbols; this does,
// the way a PAM application loads the module.
TEST_CASE("the installed module dlopens with RTLD_NOW") {
  for (const char* path : {DEFENDER_MODULE_PATH, DEFENDER_TEST_MODULE_PATH}) {
    CAPTURE(path);
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    REQUIRE_MESSAGE(lib != nullptr, dlerror());
    CHECK(dlsym(lib, "pam_sm_authenticate") != nullptr);
    CHECK(dlsym(lib, "pam_sm_setcred") != nullptr);
    CHECK(dlsym(lib, "pam_sm_acct_mgmt") != nullptr);
    CHECK(dlsym(lib, "pam_sm_open_session") == nullptr);
    dlclose(lib);
  }
}

TEST_CASE("the module exports only pam_sm_* symbols") {
  const std::string cmd =
      std::string("nm -D --defined-only ") + DEFENDER_MODULE_PATH + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::vector<std::string> exported;
  char line[512];
  while (fgets(line, sizeof(line), p)) {
    std::string l(line);
    if (!l.empty() && l.back() == '\n') l.pop_back();
    const size_t sp = l.rfind(' ');
    exported.push_back(sp == std::string::npos ? l : l.substr(sp + 1));
  }
  CHECK(pclose(p) == 0);
  CHECK(exported == std::vector<std::string>{"pam_sm_acct_mgmt",
                                             "pam_sm_authenticate",
                                             "pam_sm_setcred"});
}

}  // namespace
