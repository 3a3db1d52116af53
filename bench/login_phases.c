/* Where a login's CPU time goes, phase by phase: for each round and each
 * PAM service (given in a rotating order, so that machine noise hits all
 * alike), a child is forked that runs
 *   pam_start_confdir (libpam reads the service file and loads its modules),
 *   pam_authenticate, then pam_acct_mgmt if that succeeded,
 *   pam_end (libpam closes the modules: it unloads pam_faillock,
 *   pam_defender stays mapped until the process exits),
 * and reads its own CPU time (CLOCK_PROCESS_CPUTIME_ID) around each; the
 * parent reads the child's total CPU time from wait4. Like sshd and su,
 * the parent resolves the user before it forks, so that the children find
 * the name service already set up (pam_faillock looks the user up in every
 * step; without this it would read /etc/nsswitch.conf in every login).
 *
 *   login_phases CONFDIR ROUNDS SERVICE...
 *
 * User, password and remote host: $PHASES_USER (default "nobody"),
 * $PHASES_PASSWORD ("correct-horse", the benchmark's), $PHASES_RHOST
 * ("192.0.2.10"). Run it in a scenario directory that defender_bench left
 * (`defender_bench run --workdir W --scenario blocked`, then in
 * W/blocked: `login_phases pam.d 1000 baseline faillock defender-local`).
 * defender_bench's children have the C++ runtime and SQLite loaded, which
 * makes every lookup of a module's imports dearer; to measure in such a
 * process, start this program with those libraries in LD_PRELOAD.
 *
 * Prints one line per service: the medians, in microseconds, of
 * "start", "authenticate", "end" and the child's "total" (fork and exit
 * included). With $PHASES_SAMPLES set, also writes every login's figures
 * to that file, one line each: service, round, the four phases, and the
 * login's PAM result (pam_authenticate's, or pam_acct_mgmt's after a
 * successful authentication).
 * Exits 1 if a child fails. */
#include <pwd.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The four phases, then the login's PAM result (a slot of its own). */
enum { kStart, kAuthenticate, kEnd, kTotal, kResult, kSlots };

static const char* Env(const char* name, const char* fallback) {
  const char* v = getenv(name);
  return v != NULL && *v != '\0' ? v : fallback;
}

static double CpuMicros(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int Compare(const void* a, const void* b) {
  const double x = *(const double*)a;
  const double y = *(const double*)b;
  return (x > y) - (x < y);
}

/* Answers every password prompt with `data` (the password). */
static int Converse(int n, const struct pam_message** msg,
                    struct pam_response** resp, void* data) {
  struct pam_response* r = calloc((size_t)n, sizeof(*r));
  if (r == NULL) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
      r[i].resp = strdup((const char*)data);
    }
  }
  *resp = r;
  return PAM_SUCCESS;
}

/* The child: one login on `service`, its phases' CPU time into out[]. */
static void Login(const char* confdir, const char* service, double* out) {
  const char* password = Env("PHASES_PASSWORD", "correct-horse");
  struct pam_conv conv = {Converse, (void*)password};
  pam_handle_t* pamh = NULL;
  const double t0 = CpuMicros();
  if (pam_start_confdir(service, Env("PHASES_USER", "nobody"), &conv, confdir,
                        &pamh) != PAM_SUCCESS) {
    _exit(1);
  }
  pam_set_item(pamh, PAM_RHOST, Env("PHASES_RHOST", "192.0.2.10"));
  pam_set_item(pamh, PAM_TTY, "ssh");
  const double t1 = CpuMicros();
  int rc = pam_authenticate(pamh, 0);
  if (rc == PAM_SUCCESS) rc = pam_acct_mgmt(pamh, 0);
  const double t2 = CpuMicros();
  pam_end(pamh, rc);
  const double t3 = CpuMicros();
  out[kStart] = t1 - t0;
  out[kAuthenticate] = t2 - t1;
  out[kEnd] = t3 - t2;
  out[kResult] = rc;
  _exit(0);
}

int main(int argc, char** argv) {
  if (argc < 4 || atoi(argv[2]) <= 0) {
    fprintf(stderr, "usage: login_phases CONFDIR ROUNDS SERVICE...\n");
    return 2;
  }
  const char* confdir = argv[1];
  const int rounds = atoi(argv[2]);
  const int n = argc - 3;
  /* As sshd and su do before PAM: the name service is set up. */
  (void)getpwnam(Env("PHASES_USER", "nobody"));
  const size_t size = sizeof(double) * (size_t)(n * rounds * kSlots);
  double* m = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 2;
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < n; ++k) {
      const int s = (k + r) % n;
      double* row = m + ((size_t)s * (size_t)rounds + (size_t)r) * kSlots;
      const pid_t pid = fork();
      if (pid == 0) Login(confdir, argv[3 + s], row);
      int status = 0;
      struct rusage ru;
      if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
          WEXITSTATUS(status) != 0) {
        fprintf(stderr, "login_phases: %s: the login failed\n", argv[3 + s]);
        return 1;
      }
      row[kTotal] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    }
  }
  double* v = malloc(sizeof(double) * (size_t)rounds);
  if (v == NULL) return 2;
  printf("# service\tstart\tauthenticate\tend\ttotal\n");
  for (int s = 0; s < n; ++s) {
    printf("%s", argv[3 + s]);
    for (int p = 0; p < kResult; ++p) {
      for (int r = 0; r < rounds; ++r) {
        v[r] = m[((size_t)s * (size_t)rounds + (size_t)r) * kSlots + p];
      }
      qsort(v, (size_t)rounds, sizeof(double), Compare);
      printf("\t%.1f", v[rounds / 2]);
    }
    printf("\n");
  }
  free(v);
  const char* samples = Env("PHASES_SAMPLES", "");
  int status = 0;
  if (*samples != '\0') {
    FILE* f = fopen(samples, "w");
    if (f == NULL) {
      perror(samples);
      status = 2;
    } else {
      fprintf(f,
              "# service\tround\tstart\tauthenticate\tend\ttotal\t"
              "result\n");
      for (int s = 0; s < n; ++s) {
        for (int r = 0; r < rounds; ++r) {
          const double* row =
              m + ((size_t)s * (size_t)rounds + (size_t)r) * kSlots;
          fprintf(f, "%s\t%d", argv[3 + s], r);
          for (int p = 0; p < kResult; ++p) fprintf(f, "\t%.1f", row[p]);
          fprintf(f, "\t%d\n", (int)row[kResult]);
        }
      }
      if (fclose(f) != 0) status = 2;
    }
  }
  munmap(m, size);
  return status;
}
