// The defenderctl test runner (doctest). With --require-root as the first
// argument it exits 77 (meson: skipped) unless run as root, for the suites
// that run defenderctl as another user or need root-owned config files.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--require-root") == 0) {
    if (geteuid() != 0) {
      std::puts("skipped: needs root");
      return 77;
    }
    argv[1] = argv[0];
    ++argv;
    --argc;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
