// A local store that is missing, corrupted, read-only or on a full disk:
// the module logs it, returns what the return-code table of module.h says
// for a store error (fail open unless fail_closed), never crashes, and
// counts again as soon as the file is fixed. A damaged attempt journal or
// archive never stops the counting. Needs root (tmpfs mounts).
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <sstream>

#include "harness.h"
#include "tests/support/files.h"
#include "tests/support/process.h"

namespace hardening {
namespace {

// A tmpfs of `size` mounted on `dir` for the life of the object.
class Tmpfs {
 public:
  Tmpfs(const std::string& dir, const std::string& size) : dir_(dir) {
    mkdir(dir.c_str(), 0700);
    REQUIRE(Run({"mount", "-t", "tmpfs", "-o", "size=" + size + ",mode=0700",
                 "tmpfs", dir}) == 0);
  }
  ~Tmpfs() { Run({"umount", "-l", dir_}); }
  void Remount(const std::string& how) {
    REQUIRE(Run({"mount", "-o", "remount," + how, dir_}) == 0);
  }

 private:
  std::string dir_;
};

// Fills the file system of directory `dir` with a file, whose path it
// returns (unlink it to make room again).
std::string FillFileSystem(const std::string& dir) {
  const std::string filler = dir + "/filler";
  const int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  const std::string block(4096, 'x');
  while (write(fd, block.data(), block.size()) > 0) {
  }
  close(fd);
  return filler;
}

struct Codes {
  int preauth, authfail, authsucc, account;
};

// The four steps' results for alice from 192.0.2.10.
Codes StepCodes(const Env& env, const std::string& extra_args = "") {
  const Login login;
  return Codes{CallStep(env, false, "preauth " + extra_args, login),
               CallStep(env, false, "authfail " + extra_args, login),
               CallStep(env, false, "authsucc " + extra_args, login),
               CallStep(env, true, "enforce " + extra_args, login)};
}

// The table of module.h for a store error.
void CheckFailsOpen(const Env& env) {
  const Codes open = StepCodes(env);
  CHECK(open.preauth == PAM_IGNORE);
  CHECK(open.authfail == PAM_AUTH_ERR);
  CHECK(open.authsucc == PAM_SUCCESS);
  CHECK(open.account == PAM_IGNORE);
  const Codes closed = StepCodes(env, "fail_closed");
  CHECK(closed.preauth == PAM_AUTH_ERR);
  CHECK(closed.authfail == PAM_AUTH_ERR);
  CHECK(closed.authsucc == PAM_AUTH_ERR);
  CHECK(closed.account == PAM_PERM_DENIED);
  // Through the whole stack: the password decides, as without the module.
  Login good;
  good.password = "secret";
  CHECK(RunLogin(env, good).auth == PAM_SUCCESS);
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
}

void WriteGarbage(const std::string& path, off_t offset, size_t size) {
  std::mt19937 rng(42);
  std::string junk(size, '\0');
  for (char& c : junk) c = static_cast<char>(rng());
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(pwrite(fd, junk.data(), junk.size(), offset) ==
          static_cast<ssize_t>(junk.size()));
  close(fd);
}

TEST_CASE("a missing state directory fails open and recovers once created") {
  SetNow(1'800'000'000);
  TempDir top;
  Env env("", "", top / "missing/state");
  ClearLog();
  CheckFailsOpen(env);
  CHECK(LogHas("store unavailable (failing open): " + top.path() +
               "/missing/state: cannot create directory: No such file or "
               "directory"));
  CHECK(LogHas("store unavailable (failing closed)"));
  CHECK_FALSE(Exists(top / "missing"));

  REQUIRE(mkdir((top / "missing").c_str(), 0755) == 0);
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(Failures(env.db(), "user", "alice") == 1);
  CHECK(Failures(env.db(), "host", "192.0.2.10") == 1);
}

// doc/DESIGN.md §3.16: report mode logs what enforce would do and refuses
// nothing, not even on a store error with fail_closed.
TEST_CASE("report mode: would block, would refuse; a store error allows") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 1\nmode = \"report\"\n");
  ClearLog();
  Login bob;
  bob.user = "bob";
  bob.rhost = "198.51.100.1";
  CHECK(RunLogin(env, bob).auth == PAM_AUTH_ERR);
  CHECK(RunLogin(env, bob).auth == PAM_AUTH_ERR);
  CHECK(
      LogHas("would block user bob until 2027-01-15T08:05:00Z after 2 "
             "failure(s)"));
  CHECK(
      LogHas("would block host 198.51.100.1 until 2027-01-15T08:05:00Z "
             "after 2 failure(s)"));
  bob.password = "secret";
  const LoginResult in = RunLogin(env, bob);
  CHECK(in.auth == PAM_SUCCESS);
  CHECK(in.account == PAM_SUCCESS);
  CHECK(in.messages.empty());
  CHECK(
      LogHas("would refuse user bob from 198.51.100.1: user bob is "
             "blocked for "));
  CHECK_FALSE(LogHas("refused "));
  CHECK_FALSE(LogHas("blocked user"));

  TempDir top;
  Env broken("[lockout]\nmode = \"report\"\n", "",
             top / "missing/state/defender.db");
  ClearLog();
  const Codes codes = StepCodes(broken, "fail_closed");
  CHECK(codes.preauth == PAM_IGNORE);
  CHECK(codes.authfail == PAM_AUTH_ERR);
  CHECK(codes.authsucc == PAM_SUCCESS);
  CHECK(codes.account == PAM_IGNORE);
  CHECK(LogHas("store unavailable (report mode: allowing): "));
}

TEST_CASE("a store deleted between logins is created again") {
  SetNow(1'800'000'000);
  Env env;
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(Failures(env.db(), "user", "alice") == 1);
  // The attempt journal and archive: the counters (record files) go on.
  for (const char* suffix : {"", "-wal", "-shm"})
    unlink((env.db() + suffix).c_str());
  unlink((env.dir() + "/state/attempts.journal").c_str());
  ClearLog();
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(LogText() == "");
  CHECK(Failures(env.db(), "user", "alice") == 2);
  CHECK(Attempts(env.db()).size() == 1);
  CHECK(IntegrityCheck(env.db()) == "ok");
  // The whole directory: counting starts again.
  REQUIRE(Run({"rm", "-rf", env.dir() + "/state"}) == 0);
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(LogText() == "");
  CHECK(Failures(env.db(), "user", "alice") == 1);
}

TEST_CASE("a record file of garbage bytes reads as absent and is rewritten") {
  SetNow(1'800'000'000);
  Env env;
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(Failures(env.db(), "user", "alice") == 2);
  // u-<hex of "alice">: both slots overwritten.
  WriteGarbage(env.dir() + "/state/subjects/u-616c696365", 0, 4096);
  ClearLog();
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(LogText() == "");
  CHECK(Failures(env.db(), "user", "alice") == 1);
  CHECK(Failures(env.db(), "host", "192.0.2.10") == 3);
}

// A login never opens the SQLite archive: one of garbage bytes changes
// nothing for logins; defenderctl reports it (exit 3) and keeps the journal
// it could not move, so no attempt is lost once the file is replaced.
TEST_CASE("an archive of garbage bytes: logins go on, no attempt is lost") {
  SetNow(1'800'000'000);
  Env env;
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(Attempts(env.db()).size() == 1);  // Moved into the archive.
  for (const char* suffix : {"", "-wal", "-shm"})
    unlink((env.db() + suffix).c_str());
  WriteFile(env.db(), "", 0600);
  WriteGarbage(env.db(), 0, 16384);
  ClearLog();
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(LogText() == "");
  const char* ctl = getenv("DEFENDERCTL_TESTCLOCK");
  REQUIRE(ctl != nullptr);
  const defender::testing::RunResult r =
      Spawn({ctl, "-c", env.conf(), "attempts"});
  CHECK(r.status == 3);
  CHECK(r.out == "");
  CHECK(r.err.rfind("defenderctl: store unavailable: " + env.db(), 0) == 0);
  CHECK(r.err.find("file is not a database") != std::string::npos);
  // The administrator removes the broken file: the attempt made meanwhile
  // is still in the journal and reaches the new archive.
  REQUIRE(unlink(env.db().c_str()) == 0);
  CHECK(Failures(env.db(), "user", "alice") == 2);
  const std::vector<AttemptRow> rows = Attempts(env.db());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].user == "alice");
  CHECK(rows[0].result == "failure");
}

// The attempt journal damaged in the middle: logins are still counted in
// the record files and appended after the damage without a complaint; the
// move into the archive skips the damaged bytes and keeps every intact
// record on both sides of them.
TEST_CASE("an attempt journal with garbage in the middle: counting goes on") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 100\n");
  for (int i = 0; i < 40; ++i) {
    Login l;
    l.user = "user" + std::to_string(i) + std::string(100, 'x');
    CHECK(RunLogin(env, l).auth == PAM_AUTH_ERR);
  }
  const std::string journal = env.dir() + "/state/attempts.journal";
  struct stat st;
  REQUIRE(stat(journal.c_str(), &st) == 0);
  REQUIRE(st.st_size > 4096);
  WriteGarbage(journal, 2048, static_cast<size_t>(st.st_size - 2048));
  ClearLog();
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(LogText() == "");
  CHECK(Failures(env.db(), "user", "alice") == 2);
  // The intact records before the garbage (user0.. in order) and both of
  // alice's after it.
  const std::vector<AttemptRow> rows = Attempts(env.db());
  REQUIRE(rows.size() >= 3);
  REQUIRE(rows.size() < 42);
  const size_t before = rows.size() - 2;
  for (size_t i = 0; i < before; ++i) {
    CAPTURE(i);
    CHECK(rows[i].user == "user" + std::to_string(i) + std::string(100, 'x'));
  }
  CHECK(rows[before].user == "alice");
  CHECK(rows[before + 1].user == "alice");
}

// The record files are still read on a read-only file system: a blocked
// subject stays refused; what must be written (a failure, the reset of a
// success, the journal) fails open unless fail_closed.
TEST_CASE("a read-only store fails open and counts again once writable") {
  SetNow(1'800'000'000);
  TempDir top;
  Tmpfs fs(top / "mnt", "1m");
  Env env("[lockout]\nfailure_limit = 1\n", "", top / "mnt");
  const Login bob = BlockBob(env);
  const size_t logged = Attempts(env.db()).size();

  fs.Remount("ro");
  ClearLog();
  const Codes open = StepCodes(env);
  CHECK(open.preauth == PAM_SUCCESS);
  CHECK(open.authfail == PAM_AUTH_ERR);
  CHECK(open.authsucc == PAM_SUCCESS);
  CHECK(open.account == PAM_SUCCESS);
  const Codes closed = StepCodes(env, "fail_closed");
  CHECK(closed.preauth == PAM_SUCCESS);
  CHECK(closed.authfail == PAM_AUTH_ERR);
  CHECK(closed.authsucc == PAM_AUTH_ERR);
  CHECK(closed.account == PAM_SUCCESS);
  const std::string host_record =
      top / "mnt/subjects/h-3139322e302e322e3130";  // 192.0.2.10
  CHECK(LogHas("store unavailable (failing open): " + host_record +
               ": cannot open: Read-only file system"));
  // The account step of a key login reads the records and allows; what it
  // could not do is remember the host.
  CHECK(LogHas("host not remembered: " + host_record +
               ": cannot open: Read-only file system"));
  CHECK(LogHas("store unavailable (failing closed): " + host_record +
               ": cannot open: Read-only file system"));
  Login good;
  good.password = "secret";
  CHECK(RunLogin(env, good).auth == PAM_SUCCESS);
  Login bob_good = bob;
  bob_good.password = "secret";
  ClearLog();
  CHECK(RunLogin(env, bob_good).auth == PAM_AUTH_ERR);  // Still blocked.
  CHECK(LogHas("refused user bob from 198.51.100.1"));
  CHECK(LogHas("attempt not logged: " + top.path() +
               "/mnt/attempts.journal: cannot open: Read-only file system"));

  fs.Remount("rw");
  ClearLog();
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  // The failures tried while read-only were not counted: this is alice's
  // second, which goes above the limit of 1.
  CHECK_FALSE(LogHas("store unavailable"));
  CHECK(
      LogHas("blocked user alice until 2027-01-15T08:05:00Z after 2 "
             "failure(s)"));
  CHECK(FindSubject(env.db(), "user", "alice")->blocked == 1);
  // Nothing was journaled while read-only: only the last failure is new.
  CHECK(Attempts(env.db()).size() == logged + 1);
}

TEST_CASE("a full disk loses only the failures it cannot write") {
  SetNow(1'800'000'000);
  TempDir top;
  Tmpfs fs(top / "mnt", "256k");
  Env env("[lockout]\nfailure_limit = 1000\n", "", top / "mnt");
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(Failures(env.db(), "user", "alice") == 1);

  const std::string filler = FillFileSystem(top / "mnt");

  ClearLog();
  for (int i = 0; i < 20; ++i) {
    Login l;
    l.user = "spray" + std::to_string(i) + std::string(200, 'y');
    CHECK(RunLogin(env, l).auth == PAM_AUTH_ERR);
  }
  // The first long name needs the store's hash key (subject_record.h),
  // which cannot be written.
  CHECK(LogHas("store unavailable (failing open): " + top.path() +
               "/mnt/subjects/.key."));
  CHECK(LogHas(": cannot write: No space left on device"));
  Login good;
  good.password = "secret";
  CHECK(RunLogin(env, good).auth == PAM_SUCCESS);

  REQUIRE(unlink(filler.c_str()) == 0);
  ClearLog();
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(LogText() == "");
  // The success on the full disk reset alice's counter (an existing record
  // is rewritten in place, or unlinked, and needs no new block): this
  // failure is her first.
  CHECK(Failures(env.db(), "user", "alice") == 1);
  // The spray was counted nowhere and the success reset the host too.
  CHECK(Failures(env.db(), "host", "192.0.2.10") == 1);
  CHECK(Failures(env.db(), "user", "spray0" + std::string(200, 'y')) == 0);
}

// On a full file system a new host's record file gets no block, while the
// user's existing one is rewritten in place. An attacker who moves to a new
// address for each guess must still be counted on the user (the step wrote
// nothing once the host's file failed), and leaves no empty file behind.
TEST_CASE("a full disk still counts a new host's failures on the user") {
  SetNow(1'800'000'000);
  TempDir top;
  Tmpfs fs(top / "mnt", "256k");
  Env env("[lockout]\nfailure_limit = 3\n", "", top / "mnt");
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);  // alice's record.
  const std::string filler = FillFileSystem(top / "mnt");
  ClearLog();
  for (int i = 1; i <= 3; ++i) {
    Login l;
    l.rhost = "198.51.100." + std::to_string(i);
    CHECK(RunLogin(env, l).auth == PAM_AUTH_ERR);
  }
  CHECK(LogHas(": cannot write: No space left on device"));
  // The block was written to her record: it is announced, though the step
  // reports the host's file that could not be.
  CHECK(LogHas("blocked user alice until 2027-01-15T08:"));
  // Her fourth failure blocked her (limit 3): the right password from yet
  // another new address is refused.
  Login good;
  good.password = "secret";
  good.rhost = "198.51.100.4";
  CHECK(RunLogin(env, good).auth == PAM_AUTH_ERR);
  std::string files;
  DIR* d = opendir((top / "mnt/subjects").c_str());
  REQUIRE(d != nullptr);
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') files += std::string(e->d_name) + " ";
  }
  closedir(d);
  CHECK(files.find("h-3139382e35312e3130302e") == std::string::npos);
  REQUIRE(unlink(filler.c_str()) == 0);
  CHECK(Failures(env.db(), "user", "alice") == 4);
  CHECK(FindSubject(env.db(), "user", "alice")->blocked == 1);
}

// What the module sent to syslog, as the lines of with_fake_syslog.sh's
// `log`, each from the message on: the head (the priority, the date, the
// program's name and "pam_defender...(SERVICE:STEP): ") is syslog(3)'s and
// libpam's.
std::string ModuleLines(const std::string& log) {
  std::string out;
  std::istringstream in(ReadFile(log));
  for (std::string line; std::getline(in, line);) {
    const size_t module = line.find(": pam_defender");
    const size_t at =
        module == std::string::npos ? module : line.find("): ", module);
    out += (at == std::string::npos ? "? " + line : line.substr(at + 3)) + "\n";
  }
  return out;
}

// A block written before the store failed is announced under a setuid
// caller too: a real setuid-root program (as su is), which the unprivileged
// user nobody starts with a hostile RLIMIT_FSIZE (soft limit 0, as
// `ulimit -S -f 0` sets it) and SIGXFSZ ignored, on a full disk. The
// module's process guard lifts the limit for its steps (the errors are "No
// space left on device", not "File too large", and no "cannot secure the
// process" line is logged), so what fails mid-step is the disk: alice's
// existing record is rewritten in place, a new host's file cannot be
// created. Under a setuid caller preauth counts provisionally, on her
// record, before it fails on the host's file; the handle keeps that count,
// so authfail concludes it without counting the guess again (one failure a
// login). The failure that blocks her is announced in syslog between the
// step's write and its store error, and the step fails closed; the right
// password from yet another new address is then refused.
TEST_CASE("a setuid caller on a full disk announces the block it wrote") {
  SetNow(1'800'000'000);
  const char* helper = getenv("DEFENDER_SETUID_LOGIN");
  REQUIRE(helper != nullptr);
  const std::string syslog =
      defender::testing::SourcePath("tests/cli/with_fake_syslog.sh");
  TempDir top;
  Tmpfs fs(top / "mnt", "256k");
  Env env("[lockout]\nfailure_limit = 3\n", "", top / "mnt");
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);  // alice's record.
  CHECK(Failures(env.db(), "user", "alice") == 1);
  // The program, setuid root, that only group 65534 (nobody's) may run: it
  // loads the modules of any directory it is given.
  TempDir bin;
  const std::string program = bin / "setuid_login";
  REQUIRE(Run({"install", "-o", "root", "-g", "65534", "-m", "4750", helper,
               program}) == 0);
  const std::string filler = FillFileSystem(top / "mnt");

  // nobody runs it in a private mount namespace whose /dev/log is
  // with_fake_syslog.sh's: alice from `rhost`. Its output goes through a
  // pipe (cat), which RLIMIT_FSIZE does not limit.
  const auto login = [&](const std::string& rhost,
                         const std::string& password) {
    const std::string log = top / ("syslog-" + rhost);
    const defender::testing::RunResult r =
        Spawn({syslog, log, "setpriv", "--reuid=65534", "--regid=65534",
               "--clear-groups", "--", "/bin/sh", "-c",
               "(ulimit -S -f 0 && trap '' XFSZ && exec \"$0\" \"$@\") | cat",
               program, env.confdir(), "login", "alice", rhost, password});
    return "status=" + std::to_string(r.status) + "\n" + r.out + r.err +
           ModuleLines(log);
  };
  // The line of a step that could not create the record of host
  // 198.51.100.`n`.
  const auto full = [&](char n) {
    return "store unavailable (failing closed: setuid caller): " + top.path() +
           "/mnt/subjects/h-3139382e35312e3130302e3" + n +
           ": cannot write: No space left on device\n";
  };
  const std::string head =
      "status=0\nauth=" + std::to_string(PAM_AUTH_ERR) + "\nids=65534/0\n";
  // Her 2nd and 3rd failures, one a login: not yet above the limit.
  CHECK(login("198.51.100.1", "wrong") == head + full('1') + full('1'));
  CHECK(login("198.51.100.2", "wrong") == head + full('2') + full('2'));
  // Her 4th: provisional in preauth, which does not block; authfail's
  // conclusion blocks her and announces it before its store error.
  CHECK(login("198.51.100.3", "wrong") ==
        head + full('3') +
            "blocked user alice until 2027-01-15T08:05:00Z after 4 "
            "failure(s)\n" +
            full('3'));
  CHECK(login("198.51.100.4", "secret") ==
        "status=0\n"
        "msg: Account locked: too many login attempts. Try again in 5 "
        "minute(s).\n" +
            head.substr(9) + "attempt not logged: " + top.path() +
            "/mnt/attempts.journal: cannot append: No space left on device\n"
            "refused user alice from 198.51.100.4: user alice is blocked "
            "for 5m 0s\n");

  // Read back once there is room again (the reader needs some).
  REQUIRE(unlink(filler.c_str()) == 0);
  CHECK(Failures(env.db(), "user", "alice") == 4);
  const auto alice = FindSubject(env.db(), "user", "alice");
  REQUIRE(alice.has_value());
  CHECK(alice->blocked == 1);
  CHECK(FindSubject(env.db(), "host", "198.51.100.3") == std::nullopt);
}

}  // namespace
}  // namespace hardening

int main(int argc, char** argv) {
  return hardening::RunTests(argc, argv, /*needs_root=*/true);
}
