// defender_bench: the cost of a login through real libpam, one fresh process
// per login, for the baseline (password only), pam_faillock and pam_defender
// (local store, Redis) side by side, interleaved round by round. See README.md.
//
//   defender_bench run --module PATH --workdir DIR --out DIR [options]
//   defender_bench step --confdir DIR --service NAME [--account]
//       (one pam_authenticate, then pam_acct_mgmt with --account if it
//        succeeded: for callgrind and strace)
#include <dlfcn.h>
#include <fcntl.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "bench/login.h"
#include "bench/stacks.h"
#include "bench/stats.h"
#include "bench/store_fill.h"
#include "common/archive.h"
#include "common/journal.h"
#include "common/parallel.h"
#include "common/sqlite_db.h"
#include "defenderctl/threads.h"

namespace bench {
namespace {

constexpr char kGoodPassword[] = "correct-horse";
constexpr char kBadPassword[] = "wrong-password";
constexpr char kRhost[] = "192.0.2.10";

enum class Pattern { kSuccess, kMixed, kFailure, kBlocked };

struct Scenario {
  std::string name;
  std::string title;
  Pattern pattern;
  int concurrency = 1;
  bool big_store = false;  // Adds "defender-local-big" on a filled store.
  // Failed logins of the user from the scenario's host before the first
  // measured one (Options::attack_failures), instead of one warm-up login.
  bool after_attack = false;
};

struct Options {
  std::string module;
  std::string matrix = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so";
  std::string workdir;
  std::string out;
  std::string user = "nobody";
  int redis_port = 0;
  int rounds = 20;
  int batch = 5;             // Logins per stack per round.
  int concurrent_batch = 2;  // The same, x concurrency, when concurrent.
  int64_t fill_subjects = 100000;
  int64_t fill_attempts = 1000000;
  int step_rounds = 30;
  int remember_days = -1;  // StackOptions::remember_days.
  // Evict the modules before every round (and warm each stack up again),
  // not only before each scenario: see RunScenario.
  bool evict_every_round = true;
  // The attack scenario's failures before it measures: pam_faillock keeps
  // up to 1,024 records a user (64 bytes each) within fail_interval (900 s
  // by default), which it reads and writes whole at each failure.
  int attack_failures = 1024;
  std::set<std::string> scenarios;
};

// Failing logins of a pattern: mixed fails one in four.
bool Fails(Pattern p, int i) {
  return p == Pattern::kFailure || (p == Pattern::kMixed && i % 4 == 3);
}

bool IsLockout(StackKind k) { return k != StackKind::kBaseline; }

// The results a correct stack gives for login i.
bool Expected(const Stack& s, Pattern p, int i, const LoginResult& r) {
  const bool refused = p == Pattern::kBlocked && IsLockout(s.kind);
  if (Fails(p, i) || refused) return r.auth == PAM_AUTH_ERR && r.account == -1;
  return r.auth == PAM_SUCCESS && r.account == PAM_SUCCESS;
}

struct Samples {
  std::vector<double> micros;
  std::vector<double> cpu_micros;
  double wall_micros = 0;
  // Each batch's wall time, in round order (one batch per round): the
  // report's intervals resample rounds (report.py).
  std::vector<double> batch_wall_micros;
  int unexpected = 0;
  std::string first_error;
};

int64_t Now() { return static_cast<int64_t>(time(nullptr)); }

// The attempt records of a pam_defender stack whose store is the directory
// of `state`: its journal (the logins' records, appended by the module) is
// moved into the archive beside it, as defenderctl does; *journal is the
// number of records moved, *archive the rows in the archive afterwards.
// False with *err on failure.
bool CountAttempts(const std::string& state, int64_t* journal,
                   int64_t* archive_rows, std::string* err) {
  auto archive =
      defender::AttemptArchive::Open(defender::ParentDir(state), 0, err);
  defender::IngestResult ingested;
  if (!archive || !archive->Ingest(&ingested, err)) {
    return false;
  }
  if (ingested.skipped_bytes != 0) {
    *err = std::to_string(ingested.skipped_bytes) + " damaged journal bytes";
    return false;
  }
  defender::SqliteDb::Statement st(archive->db(),
                                   "SELECT count(*) FROM attempts");
  if (!st.Step()) {
    *err = archive->db()->Error("cannot count the archive");
    return false;
  }
  *journal = ingested.records;
  *archive_rows = st.Int(0);
  return true;
}

// Drops `path` from the page cache, after writing back what the linker may
// have left dirty. How a module file came into the cache changes what
// mapping it costs: a file just written by the linker or by cp, or read
// back from the disk, differ by up to 20 µs per login here (kernel 6.18,
// ext4). Each scenario evicts every module it loads, so that all of them
// are read from the disk the same way, as after a reboot. The kernel keeps
// pages that a process has mapped, and a tmpfs has no disk to read back
// from: what stays cached is reported on stderr (mincore).
void EvictFromPageCache(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  struct stat st;
  const long page = sysconf(_SC_PAGESIZE);
  if (fstat(fd, &st) == 0 && st.st_size > 0 && page > 0) {
    const size_t size = static_cast<size_t>(st.st_size);
    void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
      std::vector<unsigned char> resident((size + page - 1) / page);
      if (mincore(map, size, resident.data()) == 0) {
        size_t kept = 0;
        for (const unsigned char r : resident) kept += r & 1;
        if (kept > 0) {
          std::fprintf(stderr,
                       "  %s: %zu of %zu pages still cached (mapped by a "
                       "process, or a tmpfs)\n",
                       path.c_str(), kept, resident.size());
        }
      }
      munmap(map, size);
    }
  }
  close(fd);
}

// The directory libpam loads modules named without a path from.
std::string PamModuleDir() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&pam_start), &info) == 0 ||
      info.dli_fname == nullptr) {
    return "/lib/security";
  }
  const std::string lib = info.dli_fname;
  return lib.substr(0, lib.rfind('/')) + "/security";
}

class Runner {
 public:
  explicit Runner(const Options& o) : o_(o) {
    env_.defender_module = o.module;
    env_.matrix_module = o.matrix;
    env_.passdb = o.workdir + "/passdb";
    env_.redis_port = o.redis_port;
  }

  bool Init(std::string* err) {
    if (!MakeDirs(o_.workdir, err) || !MakeDirs(o_.out, err)) return false;
    return WriteFile(env_.passdb, o_.user + ":" + kGoodPassword + ":" + "*\n",
                     err);
  }

  // Writes the stacks of scenario `sc` into workdir/<name>.
  bool Stacks(const Scenario& sc, int limit, std::vector<Stack>* out,
              std::string* err) {
    const std::string dir = o_.workdir + "/" + sc.name;
    StackOptions opts{limit, 86400, "bench-" + sc.name, o_.remember_days};
    std::vector<std::pair<std::string, StackKind>> kinds = {
        {"baseline", StackKind::kBaseline},
        {"faillock", StackKind::kFaillock},
        {"defender-local", StackKind::kDefenderLocal}};
    if (o_.redis_port) {
      kinds.push_back({"defender-redis", StackKind::kDefenderRedis});
    }
    if (sc.big_store) {
      kinds = {{"baseline", StackKind::kBaseline},
               {"defender-local", StackKind::kDefenderLocal},
               {"defender-local-big", StackKind::kDefenderLocal}};
    }
    out->clear();
    for (const auto& [name, kind] : kinds) {
      Stack s;
      if (!WriteStack(env_, opts, dir, name, kind, &s, err)) return false;
      out->push_back(s);
    }
    return true;
  }

  LoginRequest Request(const Stack& s, bool good) const {
    return LoginRequest{s.confdir, s.service, o_.user, kRhost,
                        good ? kGoodPassword : kBadPassword};
  }

  // Runs logins [first, first + n) of pattern p on stack s.
  void Batch(const Stack& s, Pattern p, int first, int n, int concurrency,
             Samples* out) {
    std::vector<LoginRequest> reqs;
    for (int i = first; i < first + n; ++i) {
      reqs.push_back(Request(s, !Fails(p, i)));
    }
    double wall = 0;
    const std::vector<LoginResult> res = RunLogins(reqs, concurrency, &wall);
    out->wall_micros += wall;
    out->batch_wall_micros.push_back(wall);
    for (int i = 0; i < n; ++i) {
      out->micros.push_back(res[i].micros);
      out->cpu_micros.push_back(res[i].cpu_micros);
      if (!Expected(s, p, first + i, res[i])) {
        if (out->unexpected++ == 0) {
          out->first_error = "login " + std::to_string(first + i) +
                             ": auth=" + std::to_string(res[i].auth) +
                             " account=" + std::to_string(res[i].account);
        }
      }
    }
  }

  // Evicts every module file a stack loads (EvictFromPageCache).
  void EvictModules() const {
    const std::string pam_dir = PamModuleDir();
    const std::string module_dir =
        env_.defender_module.substr(0, env_.defender_module.rfind('/'));
    for (const std::string& m :
         {env_.defender_module, module_dir + "/pam_defender.d/config.so",
          env_.matrix_module, pam_dir + "/pam_faillock.so",
          pam_dir + "/pam_deny.so", pam_dir + "/pam_permit.so"}) {
      EvictFromPageCache(m);
    }
  }

  bool RunScenario(const Scenario& sc) {
    std::string err;
    const bool blocked = sc.pattern == Pattern::kBlocked;
    // Nothing blocks except in the blocked scenario (limit 3 there).
    const int limit = blocked ? 3 : 1000000;
    std::vector<Stack> stacks;
    if (!Stacks(sc, limit, &stacks, &err)) return Fail(err);
    if (sc.big_store) {
      const Stack& big = stacks.back();
      std::fprintf(stderr, "  filling %s: %lld subjects, %lld attempts\n",
                   big.state.c_str(), static_cast<long long>(o_.fill_subjects),
                   static_cast<long long>(o_.fill_attempts));
      if (!FillStore(big.state, o_.fill_subjects, o_.fill_attempts, Now(),
                     &err)) {
        return Fail(err);
      }
      big_store_ = big.state;
    }
    EvictModules();
    WaitForSettledConfigs(stacks);
    // Warm-up (creates the stores), or in the blocked scenario the failures
    // that block the user and the host. In the failure scenario the warm-up
    // fails too: its logins model an attack, from an address where the
    // user has never logged in (a success would make it a remembered host
    // of the user, doc/DESIGN.md §3.14, whose failures pam_defender also
    // counts on the pair: the owner's typing errors, which mixed measures).
    std::map<std::string, int64_t> expected_rows;
    const bool good_warm_up = !blocked && sc.pattern != Pattern::kFailure;
    for (const Stack& s : stacks) {
      const int n = blocked ? limit + 1
                    : sc.after_attack && s.kind != StackKind::kBaseline
                        ? o_.attack_failures
                        : 1;
      double wall;
      std::vector<LoginRequest> reqs(n, Request(s, good_warm_up));
      for (const LoginResult& r :
           RunLogins(reqs, sc.after_attack ? 2 : 1, &wall)) {
        if (r.auth < 0) return Fail(s.name + ": warm-up login failed");
      }
      expected_rows[s.name] = n;
    }
    std::map<std::string, Samples> samples;
    const int per_batch =
        sc.concurrency > 1 ? o_.concurrent_batch * sc.concurrency : o_.batch;
    for (int round = 0; round < o_.rounds; ++round) {
      if (o_.evict_every_round && round > 0) {
        // How a module file is held in the page cache changes what mapping
        // it costs (EvictFromPageCache), for as long as it stays cached:
        // evicted only per scenario, whatever one read back gave weighs on
        // every login of the scenario, and three runs of the same code
        // differed by more than each run's interval over rounds. Evicted
        // every round, each round reads the modules back, so the interval
        // (report.py) holds that spread too. One unmeasured login per
        // stack reads them back.
        EvictModules();
        for (const Stack& s : stacks) {
          double wall;
          if (RunLogins({Request(s, good_warm_up)}, 1, &wall)[0].auth < 0) {
            return Fail(s.name + ": warm-up login failed");
          }
          ++expected_rows[s.name];
        }
      }
      for (size_t k = 0; k < stacks.size(); ++k) {
        // Rotating the order spreads any order effect over every stack.
        const Stack& s = stacks[(k + round) % stacks.size()];
        Batch(s, sc.pattern, round * per_batch, per_batch, sc.concurrency,
              &samples[s.name]);
      }
    }
    const int logins = o_.rounds * per_batch;
    bool ok = true;
    for (const Stack& s : stacks) {
      Samples& sm = samples[s.name];
      if (sm.unexpected) {
        ok =
            Fail(sc.name + "/" + s.name + ": " + std::to_string(sm.unexpected) +
                 " unexpected PAM result(s), first " + sm.first_error);
      }
      if (s.kind == StackKind::kDefenderLocal ||
          s.kind == StackKind::kDefenderRedis) {
        // Every login is in the journal: proof that the store was used.
        const int64_t want = expected_rows[s.name] + logins;
        const int64_t filled = s.state == big_store_ ? o_.fill_attempts : 0;
        int64_t journal = -1;
        int64_t rows = -1;
        if (!CountAttempts(s.state, &journal, &rows, &err)) {
          ok = Fail(sc.name + "/" + s.name + ": " + err);
        } else if (journal != want || rows != want + filled) {
          ok = Fail(sc.name + "/" + s.name + ": journal has " +
                    std::to_string(journal) + " records, expected " +
                    std::to_string(want) + "; archive " + std::to_string(rows) +
                    " rows, expected " + std::to_string(want + filled));
        }
      }
    }
    Report(sc, stacks, samples);
    return ok;
  }

  void Report(const Scenario& sc, const std::vector<Stack>& stacks,
              std::map<std::string, Samples>& samples) {
    const Samples& base = samples["baseline"];
    const double base_med = Median(base.micros);
    const double base_cpu = Median(base.cpu_micros);
    const double base_p99 = P99(base.micros);
    const double fl_over = samples.count("faillock")
                               ? Median(samples["faillock"].micros) - base_med
                               : 0;
    std::fprintf(stderr, "%s (%s)\n", sc.name.c_str(), sc.title.c_str());
    for (const Stack& s : stacks) {
      const Samples& sm = samples[s.name];
      const double med = Median(sm.micros);
      const double p99 = P99(sm.micros);
      const double tput =
          sm.wall_micros > 0 ? sm.micros.size() * 1e6 / sm.wall_micros : 0;
      const double over = med - base_med;
      const std::string ratio =
          (sc.big_store || s.kind == StackKind::kBaseline || fl_over <= 0)
              ? "-"
              : Fixed(over / fl_over, 2);
      summary_ << sc.name << '\t' << s.name << '\t' << sm.micros.size() << '\t'
               << Fixed(med, 0) << '\t' << Fixed(p99, 0) << '\t'
               << Fixed(over, 0) << '\t' << Fixed(p99 - base_p99, 0) << '\t'
               << ratio << '\t' << Fixed(tput, 1) << '\t' << sc.concurrency
               << '\t' << Fixed(Median(sm.cpu_micros), 0) << '\t'
               << Fixed(Median(sm.cpu_micros) - base_cpu, 0) << '\n';
      std::fprintf(stderr,
                   "  %-20s n=%-5zu median %7.0f us  p99 %7.0f us  "
                   "overhead %+6.0f us (p99 %+6.0f)  x faillock %-5s  "
                   "%7.1f logins/s  cpu %5.0f us (%+5.0f)\n",
                   s.name.c_str(), sm.micros.size(), med, p99, over,
                   p99 - base_p99, ratio.c_str(), tput, Median(sm.cpu_micros),
                   Median(sm.cpu_micros) - base_cpu);
      // Logins are in round order, the same number in each round.
      const size_t rounds = sm.batch_wall_micros.size();
      const size_t per_round = rounds ? sm.micros.size() / rounds : 0;
      for (size_t i = 0; i < sm.micros.size(); ++i) {
        samples_ << sc.name << '\t' << s.name << '\t'
                 << (per_round ? i / per_round : 0) << '\t'
                 << Fixed(sm.micros[i], 1) << '\t' << Fixed(sm.cpu_micros[i], 1)
                 << '\n';
      }
      for (size_t r = 0; r < rounds; ++r) {
        batches_ << sc.name << '\t' << s.name << '\t' << r << '\t' << per_round
                 << '\t' << Fixed(sm.batch_wall_micros[r], 0) << '\n';
      }
    }
  }

  // Per-step cost of pam_authenticate alone for single-step services,
  // cycling preauth (clean subject), authfail (counter 0 -> 1), authsucc
  // (counter 1 -> reset).
  bool RunSteps() {
    std::string err;
    std::vector<Stack> stacks;
    Scenario sc{"steps", "per-step cost", Pattern::kMixed};
    if (!Stacks(sc, 1000000, &stacks, &err)) return Fail(err);
    WaitForSettledConfigs(stacks);
    std::map<std::string, std::vector<double>> times;
    std::map<std::string, std::vector<double>> cpu_times;
    std::map<std::string, std::vector<double>> faults;
    bool ok = true;
    for (int round = 0; round < o_.step_rounds + 1; ++round) {
      for (const Stack& s : stacks) {
        if (!IsLockout(s.kind)) continue;
        for (const char* step : {"preauth", "authfail", "authsucc"}) {
          LoginRequest req = Request(s, true);
          req.service = s.name + "-" + step;
          int rc = -1;
          double cpu = 0;
          long flt = 0;
          const double us = TimeAuthenticate(req, &rc, &cpu, &flt);
          // authfail refuses (pam_faillock's returns PAM_IGNORE, which
          // libpam turns into PAM_PERM_DENIED when nothing else ran).
          const bool fail = std::string(step) == "authfail";
          const bool good = fail ? rc == PAM_AUTH_ERR || rc == PAM_PERM_DENIED
                                 : rc == PAM_SUCCESS;
          if (us < 0 || !good) {
            ok = Fail(req.service + ": result " + std::to_string(rc));
          }
          // Round 0 creates the stores: not measured.
          if (round > 0) {
            times[s.name + "\t" + step].push_back(us);
            cpu_times[s.name + "\t" + step].push_back(cpu);
            faults[s.name + "\t" + step].push_back(static_cast<double>(flt));
          }
        }
      }
    }
    std::ofstream f(o_.out + "/steps.tsv");
    f << "# stack\tstep\tn\tmedian_us\tp99_us\tcpu_median_us\t"
         "faults_median\n";
    std::fprintf(stderr,
                 "steps (pam_authenticate of one step, module "
                 "loaded)\n");
    for (const auto& [key, v] : times) {
      const double cpu = Median(cpu_times[key]);
      const double flt = Median(faults[key]);
      f << key << '\t' << v.size() << '\t' << Fixed(Median(v), 1) << '\t'
        << Fixed(P99(v), 1) << '\t' << Fixed(cpu, 1) << '\t' << Fixed(flt, 0)
        << '\n';
      std::fprintf(stderr,
                   "  %-28s median %6.1f us  p99 %6.1f us  cpu %6.1f us  "
                   "page faults %4.0f\n",
                   key.c_str(), Median(v), P99(v), cpu, flt);
    }
    // What each of those page faults costs here.
    double fault_us = 0;
    double touch_us = 0;
    MeasurePageTouch(4096, &fault_us, &touch_us);
    std::ofstream pt(o_.out + "/pagetouch.tsv");
    pt << "# what\tmicros_per_page\n"
       << "first touch (page fault)\t" << Fixed(fault_us, 2) << '\n'
       << "touch of a mapped page\t" << Fixed(touch_us, 2) << '\n';
    std::fprintf(stderr,
                 "  page fault on first touch %.2f us, touch of a mapped page "
                 "%.2f us\n",
                 fault_us, touch_us);
    return ok;
  }

  bool RunStoreOps() {
    if (big_store_.empty()) return Fail("storeops needs the bigstore scenario");
    std::string err;
    const std::string copy_dir = o_.workdir + "/storeops";
    const std::string copy = copy_dir + "/attempts.db";
    // A copy, so that cleanup does not change the store the logins used.
    const std::string big_dir = big_store_.substr(0, big_store_.rfind('/'));
    const std::string cmd = "rm -rf '" + copy_dir + "' && cp -a '" + big_dir +
                            "' '" + copy_dir + "'";
    if (system(cmd.c_str()) != 0) return Fail("cannot copy " + big_store_);
    StoreOpTimes t;
    if (!TimeStoreOps(copy, Now(), &t, &err)) return Fail(err);
    std::ofstream f(o_.out + "/storeops.tsv");
    f << "# operation\trows\tms\n"
      << "list (Store::List, all)\t" << t.listed << '\t' << Fixed(t.list_ms, 1)
      << "\nlist --blocked (Store::List)\t" << t.listed_blocked << '\t'
      << Fixed(t.list_blocked_ms, 1)
      << "\ncleanup (archive Prune, then close)\t" << t.cleaned << '\t'
      << Fixed(t.cleanup_ms, 1) << "\ncleanup, CPU time\t" << t.cleaned << '\t'
      << Fixed(t.cleanup_cpu_ms, 1) << "\nstore prune (Store::Prune)\t"
      << t.store_pruned << '\t' << Fixed(t.store_prune_ms, 1) << '\n';
    std::fprintf(stderr,
                 "storeops: list %lld rows %.1f ms; blocked %lld rows %.1f "
                 "ms; cleanup %lld rows %.1f ms; store prune %lld %.1f ms\n",
                 static_cast<long long>(t.listed), t.list_ms,
                 static_cast<long long>(t.listed_blocked), t.list_blocked_ms,
                 static_cast<long long>(t.cleaned), t.cleanup_ms,
                 static_cast<long long>(t.store_pruned), t.store_prune_ms);
    bool ok = true;
    if (t.listed != o_.fill_subjects + 1) {  // + the benchmark's own host
      // The benchmark's user/host may or may not have a live record.
      if (t.listed < o_.fill_subjects) ok = Fail("list returned too few rows");
    }
    if (t.cleaned != o_.fill_attempts) ok = Fail("cleanup count mismatch");
    return ok;
  }

  bool Finish() {
    std::ofstream f(o_.out + "/summary.tsv");
    // report.py reads the options the figures depend on from this line.
    f << "# attack_failures=" << o_.attack_failures << "\n"
      << "# scenario\tstack\tlogins\tmedian_us\tp99_us\toverhead_us\t"
         "overhead_p99_us\tx_faillock\tlogins_per_s\tconcurrency\t"
         "cpu_median_us\tcpu_overhead_us\n"
      << summary_.str();
    std::ofstream s(o_.out + "/samples.tsv");
    s << "# scenario\tstack\tround\tmicros\tcpu_micros\n" << samples_.str();
    std::ofstream b(o_.out + "/batches.tsv");
    b << "# scenario\tstack\tround\tlogins\twall_micros\n" << batches_.str();
    return f && s && b;
  }

  bool Fail(const std::string& msg) {
    std::fprintf(stderr, "defender_bench: %s\n", msg.c_str());
    failed_ = true;
    return false;
  }
  bool failed() const { return failed_; }

 private:
  static std::string Fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
  }

  const Options& o_;
  StackEnv env_;
  std::string big_store_;
  std::ostringstream summary_;
  std::ostringstream samples_;
  std::ostringstream batches_;
  bool failed_ = false;
};

const std::vector<Scenario>& AllScenarios() {
  static const std::vector<Scenario> all = {
      {"success", "all logins succeed", Pattern::kSuccess},
      {"mixed", "1 in 4 logins fails", Pattern::kMixed},
      {"failure", "all logins fail (an attack), nothing blocks",
       Pattern::kFailure},
      {"blocked", "user and host blocked: refusals", Pattern::kBlocked},
      {"attack", "all logins fail, after --attack-failures failures",
       Pattern::kFailure, 1, false, true},
      {"concurrent8", "mixed, 8 logins at a time", Pattern::kMixed, 8},
      {"concurrent32", "mixed, 32 logins at a time", Pattern::kMixed, 32},
      {"bigstore", "mixed, empty store vs 100k subjects + 1M attempts",
       Pattern::kMixed, 1, true},
  };
  return all;
}

int Run(Options& o) {
  // PAM resolves relative module paths against its own directory.
  if (char* abs = realpath(o.module.c_str(), nullptr)) {
    o.module = abs;
    free(abs);
  }
  if (getpwnam(o.user.c_str()) == nullptr) {
    // pam_faillock ignores users that do not exist.
    std::fprintf(stderr, "defender_bench: no such user: %s\n", o.user.c_str());
    return 2;
  }
  Runner r(o);
  std::string err;
  if (!r.Init(&err)) {
    std::fprintf(stderr, "defender_bench: %s\n", err.c_str());
    return 2;
  }
  const bool all = o.scenarios.empty();
  for (const Scenario& sc : AllScenarios()) {
    if (all || o.scenarios.count(sc.name)) r.RunScenario(sc);
  }
  if (all || o.scenarios.count("storeops")) r.RunStoreOps();
  if (all || o.scenarios.count("steps")) r.RunSteps();
  r.Finish();
  return r.failed() ? 1 : 0;
}

// One pam_authenticate in this process (for valgrind), and with `account`
// pam_acct_mgmt after a success: a whole login (for strace).
int Step(const std::string& confdir, const std::string& service,
         const std::string& user, const std::string& password, bool account) {
  pam_conv conv{
      [](int n, const pam_message** m, pam_response** r, void* d) {
        auto* out = static_cast<pam_response*>(calloc(n, sizeof(pam_response)));
        for (int i = 0; i < n; ++i) {
          if (m[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
            out[i].resp = strdup(static_cast<const char*>(d));
          }
        }
        *r = out;
        return PAM_SUCCESS;
      },
      const_cast<char*>(password.c_str())};
  pam_handle_t* pamh = nullptr;
  if (pam_start_confdir(service.c_str(), user.c_str(), &conv, confdir.c_str(),
                        &pamh) != PAM_SUCCESS) {
    return 2;
  }
  pam_set_item(pamh, PAM_RHOST, kRhost);
  pam_set_item(pamh, PAM_TTY, "ssh");
  int rc = pam_authenticate(pamh, 0);
  if (account && rc == PAM_SUCCESS) rc = pam_acct_mgmt(pamh, 0);
  pam_end(pamh, rc);
  std::printf("%s\n", pam_strerror(nullptr, rc));
  return 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  // Store::List reads on threads as in defenderctl (storeops).
  defender::SetParallelRunner(&defender::ctl::RunOnThreads);
  CLI::App app{
      "Login cost of pam_defender against the baseline and "
      "pam_faillock"};
  app.require_subcommand(1);
  bench::Options o;
  std::vector<std::string> scenarios;
  CLI::App* run = app.add_subcommand("run", "run the benchmark");
  run->add_option("--module", o.module, "pam_defender.so")->required();
  run->add_option("--matrix", o.matrix, "pam_matrix.so (pam_wrapper)");
  run->add_option("--workdir", o.workdir, "scratch directory")->required();
  run->add_option("--out", o.out, "results directory")->required();
  run->add_option("--user", o.user, "an existing user (pam_faillock)");
  run->add_option("--redis-port", o.redis_port,
                  "loopback redis-server port; 0 = no Redis stack");
  run->add_option("--rounds", o.rounds, "rounds per scenario");
  run->add_option("--batch", o.batch, "logins per stack per round");
  run->add_option("--concurrent-batch", o.concurrent_batch,
                  "logins per stack per round in the concurrent scenarios, "
                  "x concurrency");
  run->add_option("--fill-subjects", o.fill_subjects);
  run->add_option("--fill-attempts", o.fill_attempts);
  run->add_option("--step-rounds", o.step_rounds);
  run->add_option("--attack-failures", o.attack_failures,
                  "failed logins before the attack scenario measures");
  run->add_option("--evict-every-round", o.evict_every_round,
                  "evict the modules from the page cache before every round "
                  "(true), or only before each scenario (false)");
  run->add_option("--remember-days", o.remember_days,
                  "lockout.remember_hosts_days of the pam_defender stacks "
                  "(default: the config's default)");
  run->add_option("--scenario", scenarios,
                  "success, mixed, failure, blocked, concurrent8, "
                  "concurrent32, bigstore, storeops, steps (default: all)");
  std::string confdir, service, user = "nobody",
                                password = bench::kGoodPassword;
  CLI::App* step = app.add_subcommand("step", "one pam_authenticate");
  step->add_option("--confdir", confdir)->required();
  step->add_option("--service", service)->required();
  step->add_option("--user", user);
  step->add_option("--password", password);
  bool account = false;
  step->add_flag("--account", account,
                 "pam_acct_mgmt after a successful pam_authenticate");
  CLI11_PARSE(app, argc, argv);
  if (*step) return bench::Step(confdir, service, user, password, account);
  o.scenarios.insert(scenarios.begin(), scenarios.end());
  return bench::Run(o);
}
