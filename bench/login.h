// One login as sshd pays it: a fresh process that runs pam_start_confdir,
// sets PAM_RHOST and PAM_TTY, pam_authenticate, pam_acct_mgmt (only after a
// successful authentication) and pam_end, timed from fork() to waitpid().
#ifndef PAM_DEFENDER_BENCH_LOGIN_H_
#define PAM_DEFENDER_BENCH_LOGIN_H_

#include <string>
#include <vector>

namespace bench {

struct LoginRequest {
  std::string confdir;  // Directory holding the PAM service file.
  std::string service;
  std::string user;
  std::string rhost;
  std::string password;
};

struct LoginResult {
  int auth = -1;          // pam_authenticate's result (-1: the child failed).
  int account = -1;       // pam_acct_mgmt's result; -1 when not reached.
  double micros = 0;      // fork() to waitpid().
  double cpu_micros = 0;  // CPU time (user + system) of the login process:
                          // what the login costs on a busy machine.
};

// Runs `requests` with at most `concurrency` login processes at a time and
// returns one result per request, in order. *wall_micros is the time from
// the first fork to the last reap.
std::vector<LoginResult> RunLogins(const std::vector<LoginRequest>& requests,
                                   int concurrency, double* wall_micros);

// Runs one PAM authentication step in a child and returns the time of
// pam_authenticate alone (module already loaded by pam_start), or a
// negative value on error. *result gets pam_authenticate's result,
// *cpu_micros the CPU time of the process during the call and *faults its
// minor page faults (first touches of memory pages) during the call.
double TimeAuthenticate(const LoginRequest& request, int* result,
                        double* cpu_micros, long* faults);

// Microseconds to write one byte into each page of fresh anonymous memory
// (first touch: a page fault), and into pages already mapped (one access
// per page), averaged over `pages` pages. What a page first touched by a
// new process costs on this machine.
void MeasurePageTouch(int pages, double* fault_micros, double* touch_micros);

}  // namespace bench

#endif  // PAM_DEFENDER_BENCH_LOGIN_H_
