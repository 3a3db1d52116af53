/* An LD_PRELOAD library for tests/pam/oom_test.py: makes memory run out
 * inside pam_defender, at a chosen allocation.
 *
 * malloc, calloc, realloc, aligned_alloc and posix_memalign called from
 * code in an object whose file name contains "pam_defender" (the module,
 * and the C++ runtime linked into it) are counted; from the
 * $PD_FAIL_MALLOC_AT-th on (1 = the first; unset or 0 = never) they fail
 * with ENOMEM, as they would when the process is out of memory. Other
 * callers (libpam, libc) are served. At exit the count is written to the
 * file $PD_MALLOC_COUNT_FILE, if set. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);

static long g_count;
static long g_fail_at = -1; /* -1: not read yet. */
static __thread int t_inside;

/* True when the allocation asked for from `caller` must fail. */
static int Fails(const void* caller) {
  if (t_inside) return 0;
  t_inside = 1;
  if (g_fail_at < 0) {
    const char* at = getenv("PD_FAIL_MALLOC_AT");
    g_fail_at = at != NULL ? atol(at) : 0;
  }
  Dl_info info;
  int fail = 0;
  if (dladdr(caller, &info) != 0 && info.dli_fname != NULL &&
      strstr(info.dli_fname, "pam_defender") != NULL) {
    ++g_count;
    fail = g_fail_at > 0 && g_count >= g_fail_at;
  }
  t_inside = 0;
  if (fail) errno = ENOMEM;
  return fail;
}

void* malloc(size_t n) {
  return Fails(__builtin_return_address(0)) ? NULL : __libc_malloc(n);
}

void* calloc(size_t n, size_t size) {
  return Fails(__builtin_return_address(0)) ? NULL : __libc_calloc(n, size);
}

void* realloc(void* p, size_t n) {
  return Fails(__builtin_return_address(0)) ? NULL : __libc_realloc(p, n);
}

void* aligned_alloc(size_t align, size_t n) {
  return Fails(__builtin_return_address(0)) ? NULL : __libc_memalign(align, n);
}

int posix_memalign(void** out, size_t align, size_t n) {
  if (Fails(__builtin_return_address(0))) return ENOMEM;
  void* p = __libc_memalign(align, n);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

__attribute__((destructor)) static void WriteCount(void) {
  const char* path = getenv("PD_MALLOC_COUNT_FILE");
  if (path == NULL) return;
  FILE* f = fopen(path, "w");
  if (f == NULL) return;
  fprintf(f, "%ld\n", g_count);
  fclose(f);
}
