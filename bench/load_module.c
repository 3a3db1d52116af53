/* What loading a PAM module costs a C program such as sshd, sudo or login:
 * for each round, a child is forked that dlopens the module with RTLD_NOW
 * (as libpam does), dlcloses it and exits; the parent reads the child's CPU
 * time (user + system) from wait4. This is a C program on purpose: a C++
 * parent would already have the C++ runtime mapped into its children, which
 * hides what loading it costs. Like sshd, it is linked with libpam, so the
 * children have libpam and its libraries mapped already.
 *
 *   load_module ROUNDS [MODULE...]
 *
 * Prints one line per module, "NAME<TAB>median CPU microseconds", with
 * "-" (fork and exit only, no module) first. Exits 1 if a module does not
 * load. */
#include <dlfcn.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int Compare(const void* a, const void* b) {
  const double x = *(const double*)a;
  const double y = *(const double*)b;
  return (x > y) - (x < y);
}

/* CPU time of one child that loads `module` (NULL: none), or a negative
 * value if the child failed. */
static double LoadOnce(const char* module) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (module != NULL) {
      void* handle = dlopen(module, RTLD_NOW | RTLD_LOCAL);
      if (handle == NULL) _exit(1);
      dlclose(handle);
    }
    _exit(0);
  }
  int status = 0;
  struct rusage ru;
  if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    return -1;
  }
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int main(int argc, char** argv) {
  if (argc < 2 || atoi(argv[1]) <= 0) {
    fprintf(stderr, "usage: load_module ROUNDS [MODULE...]\n");
    return 2;
  }
  const int rounds = atoi(argv[1]);
  /* A call into libpam, so that the linker keeps it as sshd has it. */
  if (pam_strerror(NULL, PAM_SUCCESS) == NULL) return 2;
  const int n = argc - 1; /* Slot 0: no module; slot m: argv[m + 1]. */
  double* cpu = calloc((size_t)(n * rounds), sizeof(double));
  if (cpu == NULL) return 2;
  /* Interleaved, round by round, so that machine noise hits all alike. */
  for (int i = 0; i < rounds; ++i) {
    for (int m = 0; m < n; ++m) {
      const char* module = m == 0 ? NULL : argv[m + 1];
      const double us = LoadOnce(module);
      if (us < 0) {
        fprintf(stderr, "load_module: %s: does not load\n",
                module != NULL ? module : "(fork only)");
        return 1;
      }
      cpu[m * rounds + i] = us;
    }
  }
  for (int m = 0; m < n; ++m) {
    qsort(cpu + m * rounds, (size_t)rounds, sizeof(double), Compare);
    printf("%s\t%.0f\n", m == 0 ? "-" : argv[m + 1],
           cpu[m * rounds + rounds / 2]);
  }
  free(cpu);
  return 0;
}
