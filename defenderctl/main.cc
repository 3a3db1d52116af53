// defenderctl: placeholder until the CLI lands.
#include <cstdio>

int main() {
  std::fputs("defenderctl: not implemented yet\n", stderr);
  return 2;
}
