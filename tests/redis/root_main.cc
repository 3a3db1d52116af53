// The doctest main of a test that needs root (a private network namespace,
// the kernel firewall): run by another user it exits 77, which meson
// reports as skipped, not passed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::fputs("skipped: needs root\n", stderr);
    return 77;
  }
  return doctest::Context(argc, argv).run();
}
