#include "bench/login.h"

#include <security/pam_appl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>

namespace bench {
namespace {

double ClockMicros(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 +
         static_cast<double>(ts.tv_nsec) / 1e3;
}

double NowMicros() { return ClockMicros(CLOCK_MONOTONIC); }

double Micros(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec);
}

// Answers every prompt with the password; info and error messages get an
// empty answer.
int Converse(int n, const pam_message** msg, pam_response** resp, void* data) {
  auto* r = static_cast<pam_response*>(calloc(n, sizeof(pam_response)));
  if (r == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
        msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
      r[i].resp = strdup(static_cast<const char*>(data));
    }
  }
  *resp = r;
  return PAM_SUCCESS;
}

// Results shared with the children (one slot per login).
struct Slot {
  int auth;
  int account;
  double auth_micros;
  double auth_cpu_micros;
  long auth_faults;
};

Slot* MapSlots(size_t n) {
  void* p = mmap(nullptr, sizeof(Slot) * (n ? n : 1), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<Slot*>(p);
}

[[noreturn]] void ChildLogin(const LoginRequest& req, Slot* slot,
                             bool auth_only) {
  slot->auth = -1;
  slot->account = -1;
  pam_conv conv{Converse, const_cast<char*>(req.password.c_str())};
  pam_handle_t* pamh = nullptr;
  int rc = pam_start_confdir(req.service.c_str(), req.user.c_str(), &conv,
                             req.confdir.c_str(), &pamh);
  if (rc != PAM_SUCCESS) _exit(1);
  if (!req.rhost.empty()) pam_set_item(pamh, PAM_RHOST, req.rhost.c_str());
  pam_set_item(pamh, PAM_TTY, "ssh");
  const double t0 = NowMicros();
  const double c0 = ClockMicros(CLOCK_PROCESS_CPUTIME_ID);
  rusage r0{};
  getrusage(RUSAGE_SELF, &r0);
  rc = pam_authenticate(pamh, 0);
  slot->auth_micros = NowMicros() - t0;
  slot->auth_cpu_micros = ClockMicros(CLOCK_PROCESS_CPUTIME_ID) - c0;
  rusage r1{};
  getrusage(RUSAGE_SELF, &r1);
  slot->auth_faults = r1.ru_minflt - r0.ru_minflt;
  slot->auth = rc;
  if (rc == PAM_SUCCESS && !auth_only) {
    rc = pam_acct_mgmt(pamh, 0);
    slot->account = rc;
  }
  pam_end(pamh, rc);
  _exit(0);
}

}  // namespace

std::vector<LoginResult> RunLogins(const std::vector<LoginRequest>& requests,
                                   int concurrency, double* wall_micros) {
  std::vector<LoginResult> out(requests.size());
  Slot* slots = MapSlots(requests.size());
  if (slots == nullptr) return out;
  std::map<pid_t, std::pair<size_t, double>> running;  // pid -> index, start
  size_t next = 0;
  const double begin = NowMicros();
  while (next < requests.size() || !running.empty()) {
    while (next < requests.size() &&
           static_cast<int>(running.size()) < concurrency) {
      const double start = NowMicros();
      const pid_t pid = fork();
      if (pid == 0) ChildLogin(requests[next], &slots[next], false);
      if (pid < 0) {
        ++next;  // Leaves auth = -1: reported as a failed child.
        continue;
      }
      running[pid] = {next++, start};
    }
    if (running.empty()) break;
    int status = 0;
    rusage ru{};
    const pid_t pid = wait4(-1, &status, 0, &ru);
    const double end = NowMicros();
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const size_t i = it->second.first;
    out[i].micros = end - it->second.second;
    out[i].cpu_micros = Micros(ru.ru_utime) + Micros(ru.ru_stime);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      out[i].auth = slots[i].auth;
      out[i].account = slots[i].account;
    }
    running.erase(it);
  }
  *wall_micros = NowMicros() - begin;
  munmap(slots, sizeof(Slot) * (requests.empty() ? 1 : requests.size()));
  return out;
}

double TimeAuthenticate(const LoginRequest& request, int* result,
                        double* cpu_micros, long* faults) {
  Slot* slot = MapSlots(1);
  if (slot == nullptr) return -1;
  double micros = -1;
  const pid_t pid = fork();
  if (pid == 0) ChildLogin(request, slot, true);
  int status = 0;
  if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
      WEXITSTATUS(status) == 0) {
    micros = slot->auth_micros;
    *cpu_micros = slot->auth_cpu_micros;
    *faults = slot->auth_faults;
    *result = slot->auth;
  }
  munmap(slot, sizeof(Slot));
  return micros;
}

void MeasurePageTouch(int pages, double* fault_micros, double* touch_micros) {
  const size_t size = static_cast<size_t>(pages) * 4096;
  void* m = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    *fault_micros = *touch_micros = -1;
    return;
  }
  // One fault per 4 KiB page, even where huge pages are on by default.
  madvise(m, size, MADV_NOHUGEPAGE);
  auto* p = static_cast<volatile char*>(m);
  double t0 = NowMicros();
  for (int i = 0; i < pages; ++i) p[static_cast<size_t>(i) * 4096] = 1;
  *fault_micros = (NowMicros() - t0) / pages;
  munmap(m, size);
  m = mmap(nullptr, size, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (m == MAP_FAILED) {
    *touch_micros = -1;
    return;
  }
  madvise(m, size, MADV_NOHUGEPAGE);
  p = static_cast<volatile char*>(m);
  t0 = NowMicros();
  for (int i = 0; i < pages; ++i) p[static_cast<size_t>(i) * 4096] = 2;
  *touch_micros = (NowMicros() - t0) / pages;
  munmap(m, size);
}

}  // namespace bench
