/* LD_PRELOAD shim for the unit-hook-children-bound tests: a process forked
 * from the one this was loaded into ends at once, with status 99, when it
 * calls dlsym(). A hook whose children look up a function of
 * common/lazy_libc.h (one SpawnDetached did not bind before fork()) then
 * never runs, or is never killed, and its test fails. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <unistd.h>

typedef void* (*DlsymFn)(void*, const char*);

static pid_t loaded_in;

__attribute__((constructor)) static void Init(void) { loaded_in = getpid(); }

void* dlsym(void* handle, const char* name) {
  static DlsymFn real;
  if (getpid() != loaded_in) _exit(99);
  /* dlsym's versions: since glibc 2.34, and before it on each target. */
  static const char* const kVersions[] = {
      "GLIBC_2.34", "GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_2.4", "GLIBC_2.0"};
  for (size_t i = 0; real == NULL && i < sizeof kVersions / sizeof *kVersions;
       ++i) {
    /* POSIX's way to a function pointer from a void*. */
    *(void**)&real = dlvsym(RTLD_NEXT, "dlsym", kVersions[i]);
  }
  return real == NULL ? NULL : real(handle, name);
}
