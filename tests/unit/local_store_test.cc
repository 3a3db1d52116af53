// The LocalStore beyond the shared contract: its files, processes racing on
// the same records, a writer killed at any point, damaged and hostile files,
// and 100,000 subjects.
#include "common/local_store.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/normalize.h"
#include "common/parallel.h"
#include "common/remember.h"
#include "common/subject_record.h"
#include "defenderctl/threads.h"
#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/unit/store_contract.h"

namespace defender::testing {
namespace {

const LockoutParams kParams{0, {600}, 86400};  // Counters never expire.

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The lock timeout of the tests that time a step's waits.
constexpr int kTimeoutMs = 600;

// Whole milliseconds of the steady clock since `start`.
int64_t MsSince(steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start)
      .count();
}

// Opens `file` and takes its LOCK_EX on an open file description of its
// own, as another process would; returns the descriptor.
int LockAsAnother(const std::string& file) {
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(flock(fd, LOCK_EX) == 0);
  return fd;
}

std::unique_ptr<LocalStore> OpenStore(const std::string& dir,
                                      int lock_timeout_ms = 1000) {
  std::string err;
  auto s = LocalStore::Open(dir, lock_timeout_ms, &err);
  REQUIRE_MESSAGE(s != nullptr, err);
  return s;
}

std::string FileOf(const std::string& dir, const Subject& s) {
  return dir + "/subjects/" + RecordFileName(s.kind, s.name, SipKey{});
}

SubjectState StateIn(Store& s, const Subject& who, int64_t now) {
  std::vector<SubjectState> out;
  std::string err;
  REQUIRE_MESSAGE(s.Get({&who, 1}, now, &out, &err), err);
  return out[0];
}

// A descriptor that sees opens of files in the store's record directory
// from now on (OpensSeen reads them).
int WatchOpens(const std::string& dir) {
  const int watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  REQUIRE(watch >= 0);
  REQUIRE(inotify_add_watch(watch, (dir + "/subjects").c_str(), IN_OPEN) >= 0);
  return watch;
}

// The opens `watch` (WatchOpens) has seen since it was last read, by file
// name. Fails the test if the kernel's queue overflowed (opens were lost).
std::map<std::string, int> OpensSeen(int watch) {
  std::map<std::string, int> opened;
  alignas(inotify_event) char buf[4096];
  ssize_t n;
  while ((n = read(watch, buf, sizeof buf)) > 0) {
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
      if (e->mask & IN_Q_OVERFLOW) FAIL("inotify queue overflowed");
      if (e->len > 0) ++opened[e->name];
      at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }
  return opened;
}

// The record files in dir/subjects (not .key) in directory (readdir) order.
std::vector<std::string> RecordFilesInOrder(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/subjects")) {
    const std::string name = e.path().filename();
    if (name[0] != '.') out.push_back(name);
  }
  return out;
}

// The same, sorted by name.
std::vector<std::string> RecordFiles(const std::string& dir) {
  std::vector<std::string> out = RecordFilesInOrder(dir);
  std::sort(out.begin(), out.end());
  return out;
}

// Writes one slot holding `r` as the whole file (a test's hand-made store).
void WriteRecord(const std::string& path, const SubjectRecord& r) {
  WriteFile(path, EncodeSlot(r, 1), 0600);
}

// CPU time (user + system) of this process so far.
double CpuMs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

// Exit status of a reaped child, 128 + signal if killed.
int Reap(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  close(fd);
  return out;
}

TEST_CASE(
    "LocalStore: layout, modes whatever the umask, emptied files kept "
    "until Prune") {
  TempDir tmp;
  const std::string dir = tmp / "state";
  const mode_t old = umask(0);
  auto s = OpenStore(dir);
  Fail(*s, kAlice, 3, kParams, kT0);
  umask(old);
  struct stat st;
  REQUIRE(stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(stat((dir + "/subjects").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(stat(FileOf(dir, kAlice).c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(RecordFiles(dir) == std::vector<std::string>{"u-616c696365"});
  // Get creates nothing; a success that resets the only counter empties
  // the record but keeps its file (the next failure needs it again), and
  // creates none for the host; List shows nothing; Prune removes the file
  // and counts no record (none had expired).
  CHECK(StateIn(*s, kHostA, kT0) == SubjectState{});
  CHECK(RecordFiles(dir).size() == 1);
  std::vector<SubjectState> before;
  bool refused = false;
  std::string err;
  const Subject both[] = {kAlice, kHostA};
  const bool reset[] = {true, true};
  REQUIRE(s->RecordSuccess(both, reset, {}, RefusalRule::kAny, 0, kT0 + 1,
                           &before, &refused, &err));
  CHECK(before[0].failures == 1);
  CHECK(RecordFiles(dir) == std::vector<std::string>{"u-616c696365"});
  CHECK(StateIn(*s, kAlice, kT0 + 1) == SubjectState{});
  std::vector<StoreEntry> listed;
  REQUIRE(s->List(kT0 + 1, false, &listed, &err));
  CHECK(listed.empty());
  // The next failure counts from zero in the kept file.
  Fail(*s, kAlice, 3, kParams, kT0 + 2);
  CHECK(StateIn(*s, kAlice, kT0 + 2).failures == 1);
  REQUIRE(s->RecordSuccess(both, reset, {}, RefusalRule::kAny, 0, kT0 + 3,
                           &before, &refused, &err));
  int64_t pruned = -1;
  REQUIRE(s->Prune(kT0 + 3, 86400, &pruned, &err));
  CHECK(pruned == 0);
  CHECK(RecordFiles(dir).empty());
  // A block's history keeps the file after an unblock; Prune removes it
  // once the history leaves the window.
  REQUIRE(s->Block(kAlice, kT0 + 100, kT0, &err));
  bool was = false;
  REQUIRE(s->Unblock(kAlice, kT0 + 1, &was, &err));
  CHECK(was);
  CHECK(RecordFiles(dir).size() == 1);
  int64_t removed = 0;
  REQUIRE(s->Prune(kT0 + 86401, 86400, &removed, &err));
  CHECK(removed == 1);
  CHECK(RecordFiles(dir).empty());
}

TEST_CASE("LocalStore::Prune removes exactly the expired records and history") {
  TempDir tmp;
  auto s = OpenStore(tmp / "s");
  const LockoutParams p{300, {600}, 86400};
  std::string err;
  Fail(*s, kAlice, 0, p, kT0);                       // Block at kT0, 600 s.
  Fail(*s, {SubjectKind::kUser, "bob"}, 3, p, kT0);  // Counter until kT0+300.
  Fail(*s, kHostA, 3, p, kT0 + 86200);               // Live at kT0 + 86401.
  CHECK(RecordFiles(tmp / "s").size() == 3);
  int64_t removed = 0;
  REQUIRE(s->Prune(kT0 + 86401, 86400, &removed, &err));
  CHECK(removed == 3);  // alice's block and history entry, bob's counter.
  CHECK(RecordFiles(tmp / "s") ==
        std::vector<std::string>{"h-3139322e302e322e37"});
  REQUIRE(s->Prune(kT0 + 86401, 86400, &removed, &err));
  CHECK(removed == 0);
}

TEST_CASE("LocalStore: names of any bytes map to safe file names") {
  TempDir tmp;
  auto s = OpenStore(tmp / "s");
  const std::string long_name(300, 'x');
  const std::vector<Subject> subjects = {
      {SubjectKind::kUser, "../../etc/passwd"},
      {SubjectKind::kUser, "a/b"},
      {SubjectKind::kUser, ".."},
      {SubjectKind::kUser, "\x01\x1b[31m\x7f"},
      {SubjectKind::kUser, long_name},
      {SubjectKind::kHost, long_name},
      {SubjectKind::kUser, std::string(99, 'y')},   // The longest plain name.
      {SubjectKind::kUser, std::string(100, 'y')},  // Hashed.
  };
  for (const Subject& who : subjects) Fail(*s, who, 5, kParams, kT0);
  const std::vector<std::string> files = RecordFiles(tmp / "s");
  REQUIRE(files.size() == subjects.size());
  int hashed = 0;
  for (const std::string& f : files) {
    CAPTURE(f);
    CHECK(f.size() <= kMaxPlainFileName);
    CHECK(f.find_first_not_of("uh-~0123456789abcdef") == std::string::npos);
    if (f[1] == '~') {
      ++hashed;
      CHECK(f.size() == 34);
    }
  }
  CHECK(hashed == 3);
  CHECK(Exists(FileOf(tmp / "s", {SubjectKind::kUser, "a/b"})));
  // The key: 16 random bytes, 0600, different for another store.
  struct stat st;
  REQUIRE(stat((tmp / "s/subjects/.key").c_str(), &st) == 0);
  CHECK(st.st_size == 16);
  CHECK((st.st_mode & 07777) == 0600);
  auto other = OpenStore(tmp / "t");
  Fail(*other, {SubjectKind::kUser, long_name}, 5, kParams, kT0);
  const std::vector<std::string> theirs = RecordFiles(tmp / "t");
  REQUIRE(theirs.size() == 1);
  CHECK(std::find(files.begin(), files.end(), theirs[0]) == files.end());
  // Every subject comes back by name, with its one failure.
  std::vector<StoreEntry> listed;
  std::string err;
  REQUIRE(s->List(kT0, false, &listed, &err));
  REQUIRE(listed.size() == subjects.size());
  for (const Subject& who : subjects) {
    CAPTURE(who.name);
    CHECK(std::count_if(listed.begin(), listed.end(), [&](const StoreEntry& e) {
            return e.subject == who && e.state.failures == 1;
          }) == 1);
    CHECK(StateIn(*s, who, kT0).failures == 1);
  }
  // Over kMaxRecordName: a clear error.
  const Subject huge{SubjectKind::kUser, std::string(kMaxRecordName + 1, 'z')};
  std::vector<SubjectState> out;
  CHECK_FALSE(s->Get({&huge, 1}, kT0, &out, &err));
  CHECK(err == "subject name longer than 1024 bytes");
}

TEST_CASE(
    "LocalStore: a damaged record reads as absent, a torn write as the "
    "record before it") {
  TempDir tmp;
  auto s = OpenStore(tmp / "s");
  const std::string file = FileOf(tmp / "s", kAlice);
  Fail(*s, kAlice, 5, kParams, kT0);  // Slot 0.
  Fail(*s, kAlice, 5, kParams, kT0);  // Slot 1: 2 failures.
  std::string bytes = ReadFile(file);
  REQUIRE(bytes.size() > kSlotBytes);
  CHECK(StateIn(*s, kAlice, kT0).failures == 2);
  SUBCASE("the newest slot torn: the one before") {
    bytes.resize(kSlotBytes + 20);  // Half a write (a power loss).
    WriteFile(file, bytes, 0600);
    CHECK(StateIn(*s, kAlice, kT0).failures == 1);
    CHECK(Fail(*s, kAlice, 5, kParams, kT0).state.failures == 2);
    CHECK(StateIn(*s, kAlice, kT0).failures == 2);
  }
  SUBCASE("a flipped bit in the newest slot: the one before") {
    bytes[kSlotBytes + 17] ^= 1;
    WriteFile(file, bytes, 0600);
    CHECK(StateIn(*s, kAlice, kT0).failures == 1);
  }
  SUBCASE("garbage: absent, then overwritten") {
    WriteFile(file, std::string(3000, '\xff'), 0600);
    CHECK(StateIn(*s, kAlice, kT0) == SubjectState{});
    std::vector<StoreEntry> listed;
    std::string err;
    REQUIRE(s->List(kT0, false, &listed, &err));
    CHECK(listed.empty());
    CHECK(Fail(*s, kAlice, 5, kParams, kT0).state.failures == 1);
    CHECK(StateIn(*s, kAlice, kT0).failures == 1);
  }
  SUBCASE("an empty file (a writer killed after creating it): absent") {
    WriteFile(file, "", 0600);
    CHECK(StateIn(*s, kAlice, kT0) == SubjectState{});
    int64_t removed = 0;
    std::string err;
    REQUIRE(s->Prune(kT0, 86400, &removed, &err));
    CHECK_FALSE(Exists(file));  // Prune deletes what holds no record.
  }
  SUBCASE("another subject's record under this name: absent") {
    SubjectRecord bob;
    bob.name = "bob";
    bob.state = StoredRecord{2, true, 0};
    WriteRecord(file, bob);
    CHECK(StateIn(*s, kAlice, kT0) == SubjectState{});
  }
}

TEST_CASE(
    "Subject record: remembered hosts, version 1 records, the slot bound") {
  SubjectRecord r;
  r.name = "alice";
  r.state = StoredRecord{2, false, kT0 + 300};
  r.history = {kT0 - 5, kT0 - 1};
  r.remembered = {{"192.0.2.10", kT0 + 100}, {"local", kT0 + 200}};
  const std::string bytes = EncodeSlot(r, 7);
  CHECK(bytes.size() == EncodedSize(r));
  SubjectRecord back;
  int slot = -1;
  REQUIRE(DecodeRecordFile(
      {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, &back,
      &slot));
  CHECK(slot == 0);
  CHECK(back.seq == 7);
  CHECK(back.name == "alice");
  CHECK(back.history == r.history);
  CHECK(back.remembered == r.remembered);

  CHECK(back.state == r.state);

  // Byte for byte what the previous release wrote: no trailer after the
  // checksum, pending attempts in byte 15; version 1 had the remembered
  // hosts' count byte zero.
  const auto older = [](const SubjectRecord& rec, uint32_t seq, uint8_t version,
                        uint8_t byte15) {
    std::string b = EncodeSlot(rec, seq);
    b.resize(b.size() - 12);
    b[4] = static_cast<char>(version);
    b[15] = static_cast<char>(byte15);
    const SipDigest d = SipHash128(
        SipKey{}, {reinterpret_cast<const uint8_t*>(b.data()), b.size() - 8});
    std::copy_n(d.begin(), 8, b.end() - 8);
    return b;
  };
  const auto decode = [&](const std::string& b) {
    return DecodeRecordFile(
        {reinterpret_cast<const uint8_t*>(b.data()), b.size()}, &back, &slot);
  };
  SubjectRecord g = r;
  g.state->generation = 0xdeadbeef;
  const std::string enc = EncodeSlot(g, 9);
  SUBCASE("the counter's generation is kept, after the record") {
    REQUIRE(decode(enc));
    CHECK(back.state->generation == 0xdeadbeef);
    CHECK(back.state == g.state);
    // What the previous release reads (up to the checksum) is the same
    // record, generation aside: it ignores the trailer.
    CHECK(enc.substr(0, enc.size() - 12) == older(g, 9, 2, 0));
    REQUIRE(decode(enc.substr(0, enc.size() - 12)));
    CHECK(back.state == StoredRecord{2, false, kT0 + 300, 0});
    CHECK(back.seq == 9);
  }
  SUBCASE("a trailer left by an older record's bytes is no generation") {
    // The previous release writes a record of the same length over this
    // one (a later count): the old trailer's bytes follow it.
    SubjectRecord next = r;
    next.state->failures = 3;
    std::string over = older(next, 10, 2, 1) + enc.substr(enc.size() - 12);
    REQUIRE(decode(over));
    CHECK(back.state == StoredRecord{3, false, kT0 + 300, 0});
    CHECK(back.seq == 10);
  }
  SUBCASE("the previous release's bytes: the same record, no trailer") {
    // EncodeSlot(r, 7) of the release before generations (b3e1e5e), byte
    // for byte: the same bytes as this release's record up to its trailer.
    const std::string hex =
        "5044535202750102070000000500020002000000000000002cf2536500000000"
        "fbf0536500000000fff0536500000000616c69636564f15365000000000a0031"
        "39322e302e322e3130c8f153650000000005006c6f63616cd600d21dd4b70ff8";
    std::string golden;
    for (size_t i = 0; i < hex.size(); i += 2) {
      golden += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
    CHECK(EncodeSlot(r, 7).substr(0, golden.size()) == golden);
    CHECK(EncodeSlot(r, 7).size() == golden.size() + 12);
    REQUIRE(decode(golden));
    CHECK(back.seq == 7);
    CHECK(back.state == StoredRecord{2, false, kT0 + 300, 0});
    CHECK(back.history == r.history);
    CHECK(back.remembered == r.remembered);
  }
  SUBCASE("a shorter record over a longer one, a torn trailer: generation 0") {
    SubjectRecord shorter = r;
    shorter.remembered.resize(1);
    std::string over = older(shorter, 10, 2, 0);
    REQUIRE(over.size() < enc.size() - 12);
    over += enc.substr(over.size());
    REQUIRE(decode(over));
    CHECK(back.seq == 10);
    CHECK(back.state->generation == 0);
    CHECK(back.remembered.size() == 1);
    // Power lost while the trailer was written: the record stands, with no
    // generation (its conclusion counts once more, never less).
    for (size_t cut = 1; cut <= 12; ++cut) {
      CAPTURE(cut);
      REQUIRE(decode(enc.substr(0, enc.size() - cut)));
      CHECK(back.state->generation == 0);
      CHECK(back.seq == 9);
    }
  }
  SUBCASE("a record that fills its slot, trailer included") {
    SubjectRecord full = g;
    full.history.assign(kMaxHistory, kT0);
    for (char c : {'a', 'b', 'c'}) {
      full.remembered.push_back({std::string(200, c), kT0 + 300});
    }
    full.name.clear();
    full.name.assign(kSlotBytes - EncodedSize(full), 'u');
    REQUIRE(full.name.size() <= kMaxRecordName);
    const std::string max = EncodeSlot(full, 11);
    REQUIRE(max.size() == kSlotBytes);
    CHECK(FitsSlot(full));
    std::string file = max + enc;  // Slot 0 full, slot 1 older.
    REQUIRE(DecodeRecordFile(
        {reinterpret_cast<const uint8_t*>(file.data()), file.size()}, &back,
        &slot));
    CHECK(slot == 0);
    CHECK(back.state->generation == 0xdeadbeef);
    CHECK(back.name == full.name);
  }
  SUBCASE("a version 2 record of the previous release decodes") {
    REQUIRE(decode(older(r, 3, 2, 5)));
    CHECK(back.state == StoredRecord{2, false, kT0 + 300, 0});
    CHECK(back.remembered == r.remembered);
    CHECK(back.history == r.history);
  }
  SUBCASE("a version 1 record (written before remembered hosts) decodes") {
    SubjectRecord old = r;
    old.remembered.clear();
    REQUIRE(decode(older(old, 3, 1, 0)));
    CHECK(back.name == "alice");
    CHECK(back.state->failures == 2);
    CHECK(back.state->generation == 0);
    CHECK(back.remembered.empty());
    // A version this code does not know: not valid.
    CHECK_FALSE(decode(older(r, 3, 3, 0)));
  }
  SUBCASE("a count that runs past the slot is garbage, not a crash") {
    std::string bad = bytes;
    bad[14] = 16;
    CHECK_FALSE(DecodeRecordFile(
        {reinterpret_cast<const uint8_t*>(bad.data()), bad.size()}, &back,
        &slot));
  }
  SUBCASE("16 IP hosts of the longest text fit beside everything else") {
    SubjectRecord full;
    full.name = std::string(kMaxSubjectBytes, 'u');
    full.state = StoredRecord{1, true, 0};
    full.history.assign(kMaxHistory, kT0);
    for (size_t i = 0; i < kMaxRememberedHosts; ++i) {
      std::string host = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128";
      host[0] = "0123456789abcdef"[i];
      full.remembered.push_back({host, kT0 + int64_t(i)});
    }
    CHECK(full.FitRemembered() == 0);
    CHECK(FitsSlot(full));
    CHECK(EncodeSlot(full, 1).size() <= kSlotBytes);
  }
  SUBCASE("16 host names of 256 bytes do not: the 4 that end last are kept") {
    SubjectRecord full;
    full.name = std::string(kMaxSubjectBytes, 'u');
    full.history.assign(kMaxHistory, kT0);
    for (size_t i = 0; i < kMaxRememberedHosts; ++i) {
      full.remembered.push_back(
          {std::string(kMaxRememberedHost, char('a' + i)), kT0 + int64_t(i)});
    }
    CHECK_FALSE(FitsSlot(full));
    CHECK(full.FitRemembered() == 12);
    REQUIRE(full.remembered.size() == 4);
    for (const RememberedHost& h : full.remembered) CHECK(h.until >= kT0 + 12);
    CHECK(FitsSlot(full));
    const std::string enc = EncodeSlot(full, 1);
    CHECK(enc.size() <= kSlotBytes);
    REQUIRE(DecodeRecordFile(
        {reinterpret_cast<const uint8_t*>(enc.data()), enc.size()}, &back,
        &slot));
    CHECK(back.remembered == full.remembered);
  }
}

// A slot whose failure count is negative or absurd (damaged, or written by
// hand with a valid checksum) is not valid: counting on INT64_MAX wrapped to
// INT64_MIN, which `check` and `stats` then printed.
TEST_CASE("Subject record: a failure count out of range is not valid") {
  // Decodes a slot of alice with `failures`; nullopt when it is not valid.
  const auto decoded = [](int64_t failures) -> std::optional<SubjectRecord> {
    SubjectRecord r;
    r.name = "alice";
    r.state = StoredRecord{failures, false, kT0 + 300};
    const std::string bytes = EncodeSlot(r, 3);
    SubjectRecord back;
    int slot = -1;
    if (!DecodeRecordFile(
            {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
            &back, &slot)) {
      return std::nullopt;
    }
    return back;
  };
  for (const int64_t failures :
       {int64_t{-1}, std::numeric_limits<int64_t>::min(),
        kMaxStoredFailures + 1, std::numeric_limits<int64_t>::max()}) {
    CAPTURE(failures);
    CHECK_FALSE(decoded(failures).has_value());
  }
  const std::optional<SubjectRecord> most = decoded(kMaxStoredFailures);
  REQUIRE(most.has_value());
  CHECK(most->state->failures == kMaxStoredFailures);
  // Through the store: read as absent, and counted from nothing.
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir);
  SubjectRecord bad;
  bad.name = "alice";
  bad.state =
      StoredRecord{std::numeric_limits<int64_t>::max(), false, kT0 + 300};
  WriteRecord(dir + "/subjects/u-616c696365", bad);
  CHECK(StateIn(*s, kAlice, kT0).failures == 0);
}

// Get takes no lock and creates nothing (local_store.h), not even the key
// that names long subjects' files: without a key, no such file exists yet.
TEST_CASE("LocalStore: Get of a long name makes no key") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir);
  const Subject long_user{SubjectKind::kUser, std::string(300, 'a')};
  CHECK(StateIn(*s, long_user, kT0) == SubjectState{});
  CHECK(access((dir + "/subjects/.key").c_str(), F_OK) != 0);
  CHECK(RecordFiles(dir).empty());
  // A failure makes the key and the file; Get then reads it.
  std::vector<FailureOutcome> out;
  bool refused = false;
  std::string err;
  const FailureRequest req{long_user, 3};
  REQUIRE_MESSAGE(
      s->RecordFailure({&req, 1}, RefusalRule::kAny, FailureMode::kCount,
                       LockoutParams{300, {0}, 0}, kT0, &out, &refused, &err),
      err);
  CHECK(access((dir + "/subjects/.key").c_str(), F_OK) == 0);
  auto again = OpenStore(dir);
  CHECK(StateIn(*again, long_user, kT0).failures == 1);
}

// DecodeRecordFile checks the slot whose header says newer first and the
// other only when that one is not valid: the result must still be the
// newest valid slot, across the sequence's wrap and forged headers.
TEST_CASE("Subject record: the newest valid slot wins, whichever is checked") {
  const auto file_of = [](const std::string& a, const std::string& b) {
    std::string f = a;
    f.resize(kSlotBytes, '\0');
    return f + b;
  };
  const auto decode = [](const std::string& f, SubjectRecord* out) {
    int slot = -1;
    if (!DecodeRecordFile(
            {reinterpret_cast<const uint8_t*>(f.data()), f.size()}, out,
            &slot)) {
      return -1;
    }
    return slot;
  };
  SubjectRecord r;
  r.name = "alice";
  const auto slot_with = [&](int64_t failures, uint32_t seq) {
    r.state = StoredRecord{failures, false, kT0};
    return EncodeSlot(r, seq);
  };
  SubjectRecord back;
  CHECK(decode(file_of(slot_with(1, 5), slot_with(2, 4)), &back) == 0);
  CHECK(back.state->failures == 1);
  CHECK(decode(file_of(slot_with(1, 4), slot_with(2, 5)), &back) == 1);
  CHECK(back.state->failures == 2);
  // The wrap: 0 comes after 0xFFFFFFFF.
  CHECK(decode(file_of(slot_with(1, 0xFFFFFFFF), slot_with(2, 0)), &back) == 1);
  CHECK(back.seq == 0);
  CHECK(decode(file_of(slot_with(1, 0), slot_with(2, 0xFFFFFFFF)), &back) == 0);
  CHECK(back.seq == 0);
  // An older slot whose header is forged to look newer (checksum broken):
  // the other, valid one is read.
  std::string forged = slot_with(1, 4);
  forged[8] = 9;
  CHECK(decode(file_of(forged, slot_with(2, 5)), &back) == 1);
  CHECK(back.state->failures == 2);
  // The newer slot damaged: the older one, and *out holds it whole.
  std::string damaged = slot_with(2, 6);
  damaged[20] ^= 1;
  CHECK(decode(file_of(slot_with(1, 5), damaged), &back) == 0);
  CHECK(back.state->failures == 1);
  CHECK(back.seq == 5);
  CHECK(decode(file_of(forged, damaged), &back) == -1);
}

TEST_CASE("LocalStore: remembered hosts live in the user's record file") {
  TempDir tmp;
  const std::string dir = tmp / "state";
  auto s = OpenStore(dir);
  const PairAttempt from("192.0.2.10");
  const Subject alice = from.subjects[0];
  std::string err;
  // Without remembering, a clean success creates nothing.
  CHECK_FALSE(SucceedAttempt(*s, from, 0, kT0));
  CHECK(RecordFiles(dir).empty());
  // Remembering creates the user's file only, holding only the list.
  CHECK_FALSE(SucceedAttempt(*s, from, 1000, kT0));
  CHECK(RecordFiles(dir) == std::vector<std::string>{"u-616c696365"});
  CHECK(Remembered(*s, kT0) ==
        std::vector<RememberedEntry>{{"alice", "192.0.2.10", kT0 + 2800}});
  std::vector<StoreEntry> listed;
  REQUIRE(s->List(kT0, false, &listed, &err));
  CHECK(listed.empty());  // Neither failing nor blocked.
  StoreStats st;
  REQUIRE(s->Stats(kT0, 86400, &st, &err));
  CheckStats(st, StoreStats{});
  // An unblock of the user keeps the list (and the file).
  bool was = true;
  REQUIRE(s->Unblock(alice, kT0, &was, &err));
  CHECK_FALSE(was);
  CHECK(RecordFiles(dir).size() == 1);
  CHECK(GetAttempt(*s, from, kT0)[2].exempt == false);
  CHECK(GetAttempt(*s, from, kT0)[0].exempt);

  SUBCASE("a success that changes nothing writes nothing") {
    const std::string file = dir + "/subjects/u-616c696365";
    const auto contents = [&] {
      const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
      REQUIRE(fd >= 0);
      std::string data = ReadAll(fd);
      close(fd);
      return data;
    };
    const std::string before = contents();
    // kT0 is 800 s into an hour. Remembered until kT0 + 2800 already (the
    // end of the hour of kT0 + 1000): no record is written (the other slot
    // would take it, with the next sequence number).
    CHECK_FALSE(SucceedAttempt(*s, from, 2789, kT0 + 10));
    CHECK(contents() == before);
    // A later time (kT0 + 2800 starts an hour: to its end) is written.
    CHECK_FALSE(SucceedAttempt(*s, from, 2790, kT0 + 10));
    CHECK(contents() != before);
    CHECK(Remembered(*s, kT0 + 10) ==
          std::vector<RememberedEntry>{{"alice", "192.0.2.10", kT0 + 6400}});
    // A counter to reset is written, the time unchanged.
    bool refused = true;
    FailAttempt(*s, from, kParams, kT0 + 20, &refused);
    CHECK(StateIn(*s, alice, kT0 + 20).failures == 1);
    CHECK_FALSE(SucceedAttempt(*s, from, 2780, kT0 + 20));
    CHECK(StateIn(*s, alice, kT0 + 20) == SubjectState{});
    CHECK(Remembered(*s, kT0 + 20) ==
          std::vector<RememberedEntry>{{"alice", "192.0.2.10", kT0 + 6400}});
    // An earlier time (the days lowered) is written too.
    CHECK_FALSE(SucceedAttempt(*s, from, 1000, kT0 + 30));
    CHECK(Remembered(*s, kT0 + 30) ==
          std::vector<RememberedEntry>{{"alice", "192.0.2.10", kT0 + 2800}});
  }
  SUBCASE("the pair is a 'p' file of its own") {
    const PairAttempt other("192.0.2.77");
    bool refused = true;
    const int watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    REQUIRE(watch >= 0);
    REQUIRE(inotify_add_watch(watch, (dir + "/subjects").c_str(), IN_CREATE) >=
            0);
    FailAttempt(*s, other, kParams, kT0, &refused);
    CHECK_FALSE(refused);
    // Only the host's file was created: a failure from a host that is not
    // remembered creates no pair file.
    std::vector<std::string> created;
    alignas(inotify_event) char buf[4096];
    const ssize_t n = read(watch, buf, sizeof buf);
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
      created.push_back(e->name);
      at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
    close(watch);
    CHECK(created == std::vector<std::string>{"h-3139322e302e322e3737"});
    // Not remembered: the pair is exempt and not counted; user and host are.
    CHECK(RecordFiles(dir) ==
          std::vector<std::string>{"h-3139322e302e322e3737", "u-616c696365"});
    FailAttempt(*s, from, kParams, kT0, &refused);
    const std::string pair_file =
        RecordFileName(SubjectKind::kPair, "alice@192.0.2.10", SipKey{});
    CHECK(pair_file == "p-616c696365403139322e302e322e3130");
    CHECK(Exists(dir + "/subjects/" + pair_file));
    REQUIRE(s->List(kT0, false, &listed, &err));
    REQUIRE(listed.size() == 4);  // Users, hosts, then pairs.
    CHECK(listed[0].subject == alice);
    CHECK(listed[1].subject.kind == SubjectKind::kHost);
    CHECK(listed[2].subject.kind == SubjectKind::kHost);
    CHECK(listed[3].subject == from.pair());
    CHECK(listed[3].state.failures == 1);
  }
  SUBCASE("the file goes once the last host expires (Prune)") {
    int64_t removed = 0;
    REQUIRE(s->Prune(kT0 + 2799, 86400, &removed, &err));
    CHECK(removed == 0);
    CHECK(RecordFiles(dir).size() == 1);
    REQUIRE(s->Prune(kT0 + 2800, 86400, &removed, &err));
    CHECK(removed == 1);
    CHECK(RecordFiles(dir).empty());
  }
  SUBCASE("the file goes once the last host is forgotten") {
    int64_t removed = 0;
    REQUIRE(s->Forget("alice", std::string("192.0.2.99"), kT0, &removed, &err));
    CHECK(removed == 0);
    CHECK(RecordFiles(dir).size() == 1);
    REQUIRE(s->Forget("alice", std::nullopt, kT0, &removed, &err));
    CHECK(removed == 1);
    CHECK(RecordFiles(dir).empty());
    CHECK(Remembered(*s, kT0).empty());
  }
  SUBCASE("16 long host names: the newest that fit are kept, never corrupt") {
    for (int i = 0; i < 16; ++i) {
      const PairAttempt named(std::string(kMaxRememberedHost - 1, 'a' + i) +
                              ".");
      CHECK_FALSE(SucceedAttempt(*s, named, 1000, kT0 + 1 + i));
    }
    const std::vector<RememberedEntry> kept = Remembered(*s, kT0 + 16);
    // A 5-byte user name and no history: 7 names of 256 bytes fit, the
    // ones that end last.
    REQUIRE(kept.size() == 7);
    CHECK(kept.front().host[0] == 'j');
    CHECK(kept.back().host[0] == 'p');
    CHECK(StateIn(*s, alice, kT0 + 16) == SubjectState{});
    // Blocks fill the history beside the full list: the hosts that end
    // first make room, and every step still works.
    for (size_t i = 0; i < kMaxHistory; ++i) {
      REQUIRE_MESSAGE(s->Block(alice, kT0 + 100, kT0 + 16, &err), err);
    }
    const std::vector<RememberedEntry> left = Remembered(*s, kT0 + 16);
    REQUIRE(left.size() == 5);  // 512 bytes of history: 2 names fewer.
    CHECK(left.front().host[0] == 'l');
    CHECK(StateIn(*s, alice, kT0 + 16).blocked);
  }
}

// A pair's file matters only where its host is remembered: a decision and
// a failure from anywhere else (an attack) do not open it. It is locked
// after the others, once U's record has said whether it counts. An
// untrusted pair file (another user's) shows which steps open it: those
// fail on it.
TEST_CASE("LocalStore: a pair's file is opened only where it counts, last") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  std::string err;
  auto s = LocalStore::Open(dir, 3000, &err);
  REQUIRE(s != nullptr);
  constexpr int64_t kDay = 86400;
  const PairAttempt home("192.0.2.10");
  const PairAttempt elsewhere("198.51.100.9");
  CHECK_FALSE(SucceedAttempt(*s, home, kDay, kT0));  // Remembers home.
  bool refused = true;

  SUBCASE("an untrusted pair file is opened only where the host counts") {
    for (const PairAttempt* a : {&home, &elsewhere}) {
      const std::string file = FileOf(dir, a->pair());
      WriteFile(file, "", 0600);
      REQUIRE(chown(file.c_str(), 65534, 65534) == 0);
    }
    const auto untrusted = [&](const PairAttempt& a) {
      return FileOf(dir, a.pair()) +
             ": untrusted store: owned by uid 65534 with mode 0600 (must be "
             "owned by uid 0 and not writable by group or others)";
    };
    std::vector<SubjectState> st;
    REQUIRE_MESSAGE(s->GetForDecision(elsewhere.subjects, kT0 + 1, &st, &err),
                    err);
    CHECK(st == std::vector<SubjectState>{{}, {}, {0, false, 0, true}});
    const std::vector<FailureOutcome> out =
        FailAttempt(*s, elsewhere, kParams, kT0 + 2, &refused);
    CHECK_FALSE(refused);
    CHECK(out[0].state.failures == 1);
    CHECK(out[1].state.failures == 1);
    CHECK(out[2].state == SubjectState{0, false, 0, true});
    // Get reads every subject's file, for defenderctl check.
    CHECK_FALSE(s->Get(elsewhere.subjects, kT0 + 3, &st, &err));
    CHECK(err == untrusted(elsewhere));
    err.clear();
    // From home the pair counts: every step opens its file.
    CHECK_FALSE(s->GetForDecision(home.subjects, kT0 + 3, &st, &err));
    CHECK(err == untrusted(home));
    err.clear();
    std::vector<FailureRequest> reqs;
    for (const Subject& who : home.subjects) reqs.push_back({who, 3});
    std::vector<FailureOutcome> counted;
    CHECK_FALSE(s->RecordFailure(reqs, RefusalRule::kAny, FailureMode::kCount,
                                 kParams, kT0 + 3, &counted, &refused, &err));
    CHECK(err == untrusted(home));
  }

  SUBCASE("a stale pair record is read by Get, not for a decision") {
    // Blocked while home was remembered, then home forgotten.
    for (int i = 1; i <= 4; ++i) FailAttempt(*s, home, kParams, kT0, &refused);
    CHECK(StateIn(*s, home.pair(), kT0).blocked);
    int64_t removed = 0;
    REQUIRE(s->Forget("alice", std::nullopt, kT0, &removed, &err));
    REQUIRE(removed == 1);
    std::vector<SubjectState> st;
    REQUIRE(s->Get(home.subjects, kT0 + 1, &st, &err));
    CHECK(st[2] == SubjectState{4, true, kT0 + 600, true});
    REQUIRE(s->GetForDecision(home.subjects, kT0 + 1, &st, &err));
    CHECK(st[2] == SubjectState{0, false, 0, true});
  }

  SUBCASE("the first counted failure makes the pair's file in the same step") {
    const std::string pair_file = FileOf(dir, home.pair());
    CHECK_FALSE(Exists(pair_file));
    const std::vector<FailureOutcome> out =
        FailAttempt(*s, home, kParams, kT0 + 1, &refused);
    CHECK_FALSE(refused);
    CHECK(out[2].state == SubjectState{1, false, 0, false});
    CHECK(Exists(pair_file));
    CHECK(StateIn(*s, home.pair(), kT0 + 1).failures == 1);
  }

  // A second process runs a failure from home (its error written back),
  // closing the test's descriptor `lock_fd` (its lock is the test's).
  const auto fail_in_child = [&](int lock_fd, int* done_fd) {
    return ForkPiped(
        [&](int write_fd) {
          close(lock_fd);
          std::vector<FailureRequest> reqs;
          for (const Subject& who : home.subjects) reqs.push_back({who, 3});
          std::vector<FailureOutcome> out;
          bool r = false;
          std::string e;
          if (s->RecordFailure(reqs, RefusalRule::kAny, FailureMode::kCount,
                               kParams, kT0 + 2, &out, &r, &e)) {
            _exit(0);
          }
          if (s->lock_timed_out()) e += " (lock timed out)";
          (void)!write(write_fd, e.data(), e.size());
          _exit(1);
        },
        done_fd);
  };
  const auto child_error = [](pid_t pid, int done_fd) {
    int status = -1;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    std::string e = ReadAll(done_fd);
    close(done_fd);
    if (e.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      e = "status " + std::to_string(status);
    }
    return e;
  };
  // Opens a file to lock it as another step would (the test's own).
  // Whether a file's lock is held by another (tried for up to 2 s).
  const auto held_by_other = [&](const Subject& who) {
    const int fd = open(FileOf(dir, who).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    bool held = false;
    for (int i = 0; i < 200 && !held; ++i) {
      if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        flock(fd, LOCK_UN);
        usleep(10'000);
      } else {
        held = errno == EWOULDBLOCK;
      }
    }
    close(fd);
    return held;
  };
  const std::string user_name =
      RecordFileName(SubjectKind::kUser, home.subjects[0].name, SipKey{});
  const std::string host_name =
      RecordFileName(SubjectKind::kHost, home.subjects[1].name, SipKey{});
  const std::string pair_name =
      RecordFileName(SubjectKind::kPair, home.pair().name, SipKey{});

  SUBCASE("the first counted failure makes the pair's file in the same step") {
    CHECK_FALSE(Exists(FileOf(dir, home.pair())));
    const int watch = WatchOpens(dir);
    const std::vector<FailureOutcome> out =
        FailAttempt(*s, home, kParams, kT0 + 1, &refused);
    // Each file opened once: the step did not start again to make it.
    CHECK(OpensSeen(watch) == std::map<std::string, int>{{host_name, 1},
                                                         {pair_name, 1},
                                                         {user_name, 1}});
    close(watch);
    CHECK_FALSE(refused);
    CHECK(out[2].state == SubjectState{1, false, 0, false});
    CHECK(StateIn(*s, home.pair(), kT0 + 1).failures == 1);
  }

  SUBCASE("the pair's file is opened after U's and H's are locked") {
    FailAttempt(*s, home, kParams, kT0 + 1, &refused);  // Makes the file.
    const int user_fd = LockAsAnother(FileOf(dir, home.subjects[0]));
    const int watch = WatchOpens(dir);
    int done_fd = -1;
    const pid_t pid = fail_in_child(user_fd, &done_fd);
    // The child locks H ("h-" before "u-") and waits for U: it has not
    // opened the pair's file.
    CHECK(held_by_other(home.subjects[1]));
    std::map<std::string, int> opened = OpensSeen(watch);
    CHECK(opened.count(pair_name) == 0);
    close(user_fd);  // Lets the child go on.
    CHECK(child_error(pid, done_fd) == "");
    opened = OpensSeen(watch);
    CHECK(opened[pair_name] == 1);
    close(watch);
    CHECK(StateIn(*s, home.pair(), kT0 + 2).failures == 2);
    CHECK(StateIn(*s, home.subjects[1], kT0 + 2).failures == 2);
  }

  // An older version locked every file by name, the pair's ("p-") before
  // U's ("u-"): such a step, still loaded in a long-lived process, may hold
  // the pair's lock and wait for U's while a step of this version holds U's
  // and wants the pair's. This one lets go of U's, and both finish.
  SUBCASE(
      "a step finding the pair's file locked lets go of U's while it waits") {
    FailAttempt(*s, home, kParams, kT0 + 1, &refused);  // Makes the file.
    const int pair_fd = LockAsAnother(FileOf(dir, home.pair()));
    const int watch = WatchOpens(dir);
    int done_fd = -1;
    const pid_t pid = fail_in_child(pair_fd, &done_fd);
    // Once the child has opened the pair's file it has held U's lock.
    bool child_opened_pair = false;
    for (int i = 0; i < 200 && !child_opened_pair; ++i) {
      child_opened_pair = OpensSeen(watch).count(pair_name) > 0;
      if (!child_opened_pair) usleep(10'000);
    }
    REQUIRE(child_opened_pair);
    close(watch);
    // The older step now takes U's lock: it gets it well before the
    // child's 3 s lock timeout.
    const int user_fd =
        open(FileOf(dir, home.subjects[0]).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(user_fd >= 0);
    const auto start = std::chrono::steady_clock::now();
    bool got_user = false;
    while (!got_user && std::chrono::steady_clock::now() - start <
                            std::chrono::milliseconds(1500)) {
      got_user = flock(user_fd, LOCK_EX | LOCK_NB) == 0;
      if (!got_user) usleep(1'000);
    }
    CHECK(got_user);
    close(pair_fd);  // The older step ends.
    close(user_fd);
    CHECK(child_error(pid, done_fd) == "");
    CHECK(StateIn(*s, home.pair(), kT0 + 2).failures == 2);
    CHECK(StateIn(*s, home.subjects[0], kT0 + 2).failures == 2);
  }

  SUBCASE("a pair's file locked for good: the step fails as a lock timeout") {
    auto quick = LocalStore::Open(dir, 200, &err);
    REQUIRE(quick != nullptr);
    s = std::move(quick);
    FailAttempt(*s, home, kParams, kT0 + 1, &refused);  // Makes the file.
    const int pair_fd = LockAsAnother(FileOf(dir, home.pair()));
    int done_fd = -1;
    const pid_t pid = fail_in_child(pair_fd, &done_fd);
    CHECK(child_error(pid, done_fd) ==
          FileOf(dir, home.pair()) +
              ": cannot lock: Connection timed out (lock timed out)");
    close(pair_fd);
    // Nothing was counted: the attempt is refused (DESIGN.md §3.13).
    CHECK(StateIn(*s, home.subjects[0], kT0 + 2).failures == 1);
  }
}

TEST_CASE("LocalStore: hostile record files give an error, never followed") {
  TempDir tmp;
  auto s = OpenStore(tmp / "s");
  const std::string file = FileOf(tmp / "s", kAlice);
  const std::string target = tmp / "target";
  std::string want;
  SUBCASE("a symlink") {
    WriteFile(target, "", 0600);
    REQUIRE(symlink(target.c_str(), file.c_str()) == 0);
    want = file + ": untrusted store: a symlink";
  }
  SUBCASE("a FIFO") {
    REQUIRE(mkfifo(file.c_str(), 0600) == 0);
    want = file + ": untrusted store: not a regular file";
  }
  SUBCASE("a directory") {
    REQUIRE(mkdir(file.c_str(), 0700) == 0);
    want = file + ": untrusted store: not a regular file";
  }
  SUBCASE("another user's file") {
    WriteFile(file, "", 0600);
    REQUIRE(chown(file.c_str(), 65534, 65534) == 0);
    want = file +
           ": untrusted store: owned by uid 65534 with mode 0600 (must be "
           "owned by uid 0 and not writable by group or others)";
  }
  SUBCASE("group-writable") {
    WriteFile(file, "", 0620);
    want = file +
           ": untrusted store: owned by uid 0 with mode 0620 (must be owned "
           "by uid 0 and not writable by group or others)";
  }
  SUBCASE("a huge file") {
    WriteFile(file, "", 0600);
    REQUIRE(truncate(file.c_str(), 1 << 30) == 0);
    want = file + ": untrusted store: not a subject record (1073741824 bytes)";
  }
  REQUIRE(geteuid() == 0);  // The messages above name uid 0.
  std::string err;
  std::vector<SubjectState> states;
  CHECK_FALSE(s->Get({&kAlice, 1}, kT0, &states, &err));
  CHECK(err == want);
  err.clear();
  std::vector<FailureOutcome> out;
  bool refused = false;
  const FailureRequest req{kAlice, 3};
  CHECK_FALSE(s->RecordFailure({&req, 1}, RefusalRule::kAny,
                               FailureMode::kCount, kParams, kT0, &out,
                               &refused, &err));
  CHECK(err == want);
  err.clear();
  std::vector<StoreEntry> listed;
  CHECK_FALSE(s->List(kT0, false, &listed, &err));
  CHECK(err == want);
  CHECK(ReadFile(target) == "");  // A symlink's target is never written.
}

// A ParallelRunner that counts the threads asked for and the threads that
// ran the work, then runs it with defenderctl's runner (real threads).
struct CountingRunner {
  static inline std::atomic<int> asked{0};
  static inline std::mutex mu;
  static inline std::set<std::thread::id> ran;
  static void Run(int threads, const std::function<void()>& work) {
    asked = threads;
    ctl::RunOnThreads(threads, [&] {
      {
        std::lock_guard<std::mutex> lock(mu);
        ran.insert(std::this_thread::get_id());
      }
      work();
    });
  }
  CountingRunner() {
    asked = 0;
    ran.clear();
    SetParallelRunner(&Run);
  }
  ~CountingRunner() { SetParallelRunner(nullptr); }
};

using ctl::Processors;

TEST_CASE("LocalStore: List, Stats and remembered hosts read on threads") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir);
  // 1,500 subjects: users (one in ten with a name hashed under the store's
  // key) and hosts, one in three of each blocked; plus garbage files that
  // list nothing and a .key file that is no record.
  std::vector<Subject> subjects;
  for (int i = 0; i < 750; ++i) {
    subjects.push_back({SubjectKind::kUser,
                        i % 10 == 0 ? std::string(120, 'u') + std::to_string(i)
                                    : "user" + std::to_string(i)});
    subjects.push_back({SubjectKind::kHost, "10.0." + std::to_string(i / 256) +
                                                "." + std::to_string(i % 256)});
  }
  const auto is_blocked = [](size_t i) { return i / 2 % 3 == 0; };
  for (size_t i = 0; i < subjects.size(); ++i) {
    // Above the limit of 1 (blocked) for one in three of each kind (i / 2
    // a multiple of 3: 250 of 750), at it for the others.
    Fail(*s, subjects[i], 1, kParams, kT0);
    if (is_blocked(i)) {
      CHECK(Fail(*s, subjects[i], 1, kParams, kT0).newly_blocked);
    }
  }
  for (int i = 0; i < 20; ++i) {
    WriteFile(FileOf(dir, {SubjectKind::kUser, "garbage" + std::to_string(i)}),
              "not a record", 0600);
  }
  // What List must return: every subject once, in SubjectOrder.
  std::vector<StoreEntry> want;
  for (size_t i = 0; i < subjects.size(); ++i) {
    want.push_back(
        {subjects[i], SubjectState{is_blocked(i) ? 2 : 1, is_blocked(i),
                                   is_blocked(i) ? kT0 + 600 : 0}});
  }
  std::sort(want.begin(), want.end(),
            [](const StoreEntry& a, const StoreEntry& b) {
              return a.subject.kind != b.subject.kind
                         ? a.subject.kind < b.subject.kind
                         : a.subject.name < b.subject.name;
            });
  // 250 of each kind blocked with 2 failures, 500 with 1; each block once
  // in the history.
  const StoreStats want_stats{250, 250, 0, 500, 500, 250 * 2 * 2 + 500 * 2,
                              500, 0,   0};
  const auto check_list = [&](const std::vector<StoreEntry>& listed) {
    REQUIRE(listed.size() == want.size());
    for (size_t i = 0; i < listed.size(); ++i) {
      CAPTURE(i);
      CHECK(listed[i].subject == want[i].subject);
      CHECK(listed[i].state.failures == want[i].state.failures);
      CHECK(listed[i].state.blocked == want[i].state.blocked);
    }
  };
  std::string err;
  std::vector<StoreEntry> listed;
  StoreStats stats;
  // Without a runner: on the caller's thread.
  REQUIRE_MESSAGE(s->List(kT0, false, &listed, &err), err);
  check_list(listed);
  REQUIRE_MESSAGE(s->Stats(kT0, 86400, &stats, &err), err);
  CheckStats(stats, want_stats);

  CountingRunner runner;
  REQUIRE_MESSAGE(s->List(kT0, false, &listed, &err), err);
  CHECK(CountingRunner::asked == 4);
  // As many threads as the runner may have (one per processor), up to 4.
  CHECK(static_cast<int>(CountingRunner::ran.size()) ==
        std::min(4, Processors()));
  check_list(listed);
  std::vector<StoreEntry> blocked;
  REQUIRE_MESSAGE(s->List(kT0, true, &blocked, &err), err);
  CHECK(blocked.size() == 500);
  for (const StoreEntry& e : blocked) CHECK(e.state.blocked);
  CountingRunner::asked = 0;
  REQUIRE_MESSAGE(s->Stats(kT0, 86400, &stats, &err), err);
  CHECK(CountingRunner::asked == 4);
  CheckStats(stats, want_stats);

  SUBCASE("the first untrusted file in directory order is the one named") {
    // Two untrusted files: the one a single reader meets first is named,
    // whichever reader gets where first, and every file before it is
    // visited (some after it may be too: List's entries are not used
    // when it fails).
    REQUIRE(geteuid() == 0);  // The message names uid 0.
    // Two readers at least, or the order of failures is never in question.
    REQUIRE_MESSAGE(Processors() >= 2, "this case needs two processors");
    const std::vector<std::string> order = RecordFilesInOrder(dir);
    REQUIRE(order.size() == 1520);
    std::vector<std::string> bad;
    for (size_t at : {700, 704}) {  // In two batches of 64 names.
      bad.push_back(dir + "/subjects/" + order[at]);
      REQUIRE(chmod(bad.back().c_str(), 0620) == 0);
    }
    // The live records before position 700 (not the garbage files,
    // "u-" and the hex of "garbage...").
    size_t before = 0;
    for (size_t i = 0; i < 700; ++i) {
      if (order[i].rfind("u-67617262616765", 0) != 0) ++before;
    }
    CHECK(before < 700);
    CHECK(before > 600);
    for (int round = 0; round < 20; ++round) {
      CountingRunner::ran.clear();
      CHECK_FALSE(s->List(kT0, false, &listed, &err));
      CHECK(err == bad[0] +
                       ": untrusted store: owned by uid 0 with mode 0620 "
                       "(must be owned by uid 0 and not writable by group or "
                       "others)");
      CHECK(listed.size() >= before);
    }
  }
  SUBCASE("the remembered hosts are the same on threads") {
    std::vector<RememberedEntry> remembered;
    for (size_t i = 2; i < 200; i += 2) {  // Users, not hashed.
      if (i / 2 % 10 == 0) continue;
      const Subject three[] = {
          subjects[i],
          subjects[i + 1],
          {SubjectKind::kPair, subjects[i].name + "@" + subjects[i + 1].name}};
      const bool reset[] = {true, true, true};
      std::vector<SubjectState> states;
      bool refused = false;
      REQUIRE_MESSAGE(s->RecordSuccess(three, reset, {}, RefusalRule::kAny,
                                       86400, kT0, &states, &refused, &err),
                      err);
      // A blocked user's success is refused, and remembers nothing.
      CHECK(refused == is_blocked(i));
      if (!refused) {
        remembered.push_back(
            {subjects[i].name, subjects[i + 1].name, kT0 + 86400 + 2800});
      }
    }
    std::sort(remembered.begin(), remembered.end(),
              [](const RememberedEntry& a, const RememberedEntry& b) {
                return a.user != b.user ? a.user < b.user : a.host < b.host;
              });
    REQUIRE(remembered.size() == 60);  // 99 users, 9 hashed, 30 blocked.
    std::vector<RememberedEntry> threaded;
    CountingRunner::asked = 0;
    REQUIRE_MESSAGE(s->ListRemembered(kT0 + 1, &threaded, &err), err);
    CHECK(CountingRunner::asked == 4);
    REQUIRE(threaded.size() == remembered.size());
    for (size_t i = 0; i < threaded.size(); ++i) {
      CAPTURE(i);
      CHECK(threaded[i].user == remembered[i].user);
      CHECK(threaded[i].host == remembered[i].host);
      CHECK(threaded[i].until == remembered[i].until);
    }
  }
  SUBCASE("files unlinked while the readers run are skipped") {
    // Every other record file goes while List reads: those left are listed,
    // each once; a removed one may or may not be.
    const std::vector<std::string> files = RecordFilesInOrder(dir);
    std::thread remover([&] {
      for (size_t i = 0; i < files.size(); ++i) {
        if (i % 2 == 0) {
          CHECK(unlink((dir + "/subjects/" + files[i]).c_str()) == 0);
        }
      }
    });
    const bool ok = s->List(kT0, false, &listed, &err);
    remover.join();
    CHECK_MESSAGE(ok, err);
    std::set<std::pair<SubjectKind, std::string>> seen;
    for (const StoreEntry& e : listed) {
      CHECK(seen.insert({e.subject.kind, e.subject.name}).second);  // Once.
    }
    std::vector<StoreEntry> left;
    REQUIRE_MESSAGE(s->List(kT0, false, &left, &err), err);
    size_t records_kept = 0;  // Odd positions, but not the garbage files.
    for (size_t i = 1; i < files.size(); i += 2) {
      if (files[i].rfind("u-67617262616765", 0) != 0) ++records_kept;
    }
    CHECK(left.size() == records_kept);
    for (const StoreEntry& e : left) {
      CHECK(seen.count({e.subject.kind, e.subject.name}) == 1);
    }
    CHECK(listed.size() >= left.size());
    CHECK(listed.size() <= subjects.size());
  }
}

// relatime sets the access time at the first read after each write, which
// writes the inode: a step opens its record files with O_NOATIME.
TEST_CASE("LocalStore: reads, counts and lists leave access times alone") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir);
  Fail(*s, kAlice, 100, kParams, kT0);
  const std::string file = FileOf(dir, kAlice);
  const auto atime = [&] {
    struct stat st;
    REQUIRE(stat(file.c_str(), &st) == 0);
    return st.st_atim.tv_sec;
  };
  // An access time before the modification time: the next plain read
  // sets it (relatime), as the control below shows.
  const timespec times[2] = {{1000, 0}, {0, UTIME_OMIT}};
  REQUIRE(utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);
  REQUIRE(atime() == 1000);
  StateIn(*s, kAlice, kT0);             // Get: a lock-free read.
  Fail(*s, kAlice, 100, kParams, kT0);  // Locked read and write.
  std::vector<StoreEntry> listed;
  std::string err;
  REQUIRE_MESSAGE(s->List(kT0, false, &listed, &err), err);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].state.failures == 2);
  CHECK(atime() == 1000);
  // The control: this filesystem does set access times.
  REQUIRE(!ReadFile(file).empty());
  CHECK_MESSAGE(atime() != 1000,
                "the test directory's filesystem does not set access times "
                "(noatime): run the tests with TMPDIR on one that does");
}

// O_NOATIME fails with EPERM on a file the caller does not own: the store
// opens it again without, so that the trust check says what is wrong.
TEST_CASE("LocalStore: another user's record file is untrusted, not EPERM") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  OpenStore(dir);
  const std::string file = FileOf(dir, kAlice);
  // Owned by root and readable by all; the store will be uid 65534's.
  WriteFile(file, "", 0644);
  REQUIRE(geteuid() == 0);
  REQUIRE(chown(dir.c_str(), 65534, 65534) == 0);
  REQUIRE(chown((dir + "/subjects").c_str(), 65534, 65534) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
      _exit(100);
    }
    std::string err;
    auto store = LocalStore::Open(dir, 1000, &err);
    if (store == nullptr) _exit(101);
    std::vector<SubjectState> states;
    if (store->Get({&kAlice, 1}, kT0, &states, &err)) _exit(102);
    _exit(err == file +
                      ": untrusted store: owned by uid 0 with mode 0644 (must "
                      "be owned by uid 65534 and not writable by group or "
                      "others)"
              ? 0
              : 103);
  }
  CHECK(Reap(pid) == 0);
}

TEST_CASE("LocalStore refuses a directory that others own or can write") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  OpenStore(dir);
  std::string err;
  REQUIRE(chmod((dir + "/subjects").c_str(), 0770) == 0);
  CHECK(LocalStore::Open(dir, 1000, &err) == nullptr);
  CHECK(err.rfind(dir + "/subjects: untrusted store: owned by uid 0 with mode "
                        "0770",
                  0) == 0);
  REQUIRE(chmod((dir + "/subjects").c_str(), 0700) == 0);
  REQUIRE(chown(dir.c_str(), 65534, 65534) == 0);
  CHECK(LocalStore::Open(dir, 1000, &err) == nullptr);
  CHECK(err.rfind(dir + ": untrusted store: owned by uid 65534", 0) == 0);
  REQUIRE(chown(dir.c_str(), 0, 0) == 0);
  REQUIRE(rmdir((dir + "/subjects").c_str()) == 0);
  REQUIRE(symlink(tmp.path().c_str(), (dir + "/subjects").c_str()) == 0);
  CHECK(LocalStore::Open(dir, 1000, &err) == nullptr);
  CHECK(err == dir + "/subjects: cannot open: Not a directory");
}

// A stopped holder (a suspended su) delays a writer by the timeout at
// most, and a reader not at all.
TEST_CASE("LocalStore: a lock held by a stopped process times out") {
  TempDir tmp;
  std::string err;
  auto s = LocalStore::Open(tmp / "s", 50, &err);
  REQUIRE(s != nullptr);
  Fail(*s, kAlice, 5, kParams, kT0);
  const int fd = LockAsAnother(FileOf(tmp / "s", kAlice));
  const FailureRequest req{kAlice, 5};
  std::vector<FailureOutcome> out;
  bool refused = false;
  CHECK_FALSE(s->RecordFailure({&req, 1}, RefusalRule::kAny,
                               FailureMode::kCount, kParams, kT0, &out,
                               &refused, &err));
  CHECK(err ==
        FileOf(tmp / "s", kAlice) + ": cannot lock: Connection timed out");
  // Get reads without waiting (it would fail after 50 ms if it waited).
  std::vector<SubjectState> states;
  REQUIRE(s->Get({&kAlice, 1}, kT0, &states, &err));
  CHECK(states[0].failures == 1);
  close(fd);
  Fail(*s, kAlice, 5, kParams, kT0);
  CHECK(StateIn(*s, kAlice, kT0).failures == 2);
}

// A blocked host keeps failing with new user names: each refused step
// creates the user's file to lock it, writes nothing, and removes it again
// (emptied files are kept, never-written ones are not), so the flood
// leaves no file behind.
TEST_CASE("LocalStore: refused failures leave no file behind") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir);
  const LockoutParams p{0, {600}, 86400};
  const auto fail = [&](const std::string& user, int64_t now) {
    const FailureRequest reqs[2] = {{{SubjectKind::kUser, user}, 1000},
                                    {kHostA, 3}};
    std::vector<FailureOutcome> out;
    bool refused = false;
    std::string err;
    REQUIRE_MESSAGE(
        s->RecordFailure(reqs, RefusalRule::kAny, FailureMode::kCount, p, now,
                         &out, &refused, &err),
        err);
    return refused;
  };
  // Limit 3: the fourth failure blocks the host.
  for (int i = 0; i < 4; ++i) {
    CHECK_FALSE(fail("seed" + std::to_string(i), kT0));
  }
  REQUIRE(StateIn(*s, kHostA, kT0).blocked);
  const std::vector<std::string> before = RecordFiles(dir);
  CHECK(before.size() == 5);  // Four users and the host.
  for (int i = 0; i < 500; ++i) CHECK(fail("x" + std::to_string(i), kT0 + 1));
  CHECK(RecordFiles(dir) == before);
}

// Runs fn() with RLIMIT_FSIZE's soft limit at `bytes` and SIGXFSZ ignored
// (a write beyond the limit fails with EFBIG), then restores both.
template <typename Fn>
bool WithFileSizeLimit(rlim_t bytes, Fn fn) {
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  const rlimit small{bytes, old.rlim_max};
  struct sigaction ignore {};
  struct sigaction was {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(sigaction(SIGXFSZ, &ignore, &was) == 0);
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  const bool ok = fn();
  REQUIRE(setrlimit(RLIMIT_FSIZE, &old) == 0);
  REQUIRE(sigaction(SIGXFSZ, &was, nullptr) == 0);
  return ok;
}

// A failure that blocks two subjects, one of whose records cannot be
// written (here RLIMIT_FSIZE stops the write to its second slot): the step
// fails, and reports as new only the block it wrote (Store::RecordFailure),
// which the module announces.
TEST_CASE("LocalStore: a block that could not be written is not reported") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir);
  const auto fail = [&](std::vector<FailureRequest> reqs,
                        std::vector<FailureOutcome>* out, std::string* err) {
    bool refused = false;
    return s->RecordFailure(reqs, RefusalRule::kAny, FailureMode::kCount,
                            kParams, kT0, out, &refused, err);
  };
  std::vector<FailureOutcome> out;
  std::string err;
  // alice's one failure is in her file's first slot, the host's two in its
  // second: the next write goes to her second slot (offset 2048) and to
  // the host's first.
  REQUIRE_MESSAGE(fail({{kAlice, 1}}, &out, &err), err);
  REQUIRE_MESSAGE(fail({{kHostA, 2}}, &out, &err), err);
  REQUIRE_MESSAGE(fail({{kHostA, 2}}, &out, &err), err);
  const bool ok = WithFileSizeLimit(1024, [&] {
    return fail({{kAlice, 1}, {kHostA, 2}}, &out, &err);
  });
  CHECK_FALSE(ok);
  CHECK(err.find("/subjects/u-616c696365: cannot write: File too large") !=
        std::string::npos);
  REQUIRE(out.size() == 2);
  CHECK_FALSE(out[0].newly_blocked);
  CHECK(out[1].newly_blocked);
  CHECK_FALSE(StateIn(*s, kAlice, kT0).blocked);
  CHECK(StateIn(*s, kHostA, kT0).blocked);
}

// The same for a provisional count (a setuid caller's preauth): the step
// reports as counted only the subject whose record it wrote, so that the
// attempt's conclusion counts the other and not this one again.
TEST_CASE("LocalStore: a count that could not be written is not reported") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir);
  std::vector<FailureOutcome> out;
  std::string err;
  const auto fail = [&](std::vector<FailureRequest> reqs, FailureMode mode) {
    bool refused = false;
    return s->RecordFailure(reqs, RefusalRule::kAny, mode, kParams, kT0, &out,
                            &refused, &err);
  };
  // As above: alice's next write goes to her second slot, the host's to
  // its first.
  REQUIRE_MESSAGE(fail({{kAlice, 5}}, FailureMode::kCount), err);
  REQUIRE_MESSAGE(fail({{kHostA, 5}}, FailureMode::kCount), err);
  REQUIRE_MESSAGE(fail({{kHostA, 5}}, FailureMode::kCount), err);
  const bool ok = WithFileSizeLimit(1024, [&] {
    return fail({{kAlice, 5}, {kHostA, 5}}, FailureMode::kProvisional);
  });
  CHECK_FALSE(ok);
  REQUIRE(out.size() == 2);
  CHECK(out[0].counted == 0);
  CHECK(out[1].counted != 0);
  CHECK(StateIn(*s, kAlice, kT0).failures == 1);
  CHECK(StateIn(*s, kHostA, kT0).failures == 3);
}

// UnblockAll whose write of a blocked record fails (here RLIMIT_FSIZE stops
// the write to its second slot): the subject stays blocked, and is not
// reported as unblocked (defenderctl announces what *cleared lists).
TEST_CASE("LocalStore: an unblock that could not be written is not reported") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir);
  std::string err;
  REQUIRE_MESSAGE(s->Block(kAlice, 0, kT0, &err), err);  // Her first slot.
  std::vector<Subject> cleared;
  const bool ok = WithFileSizeLimit(
      1024, [&] { return s->UnblockAll(kT0, &cleared, &err); });
  CHECK_FALSE(ok);
  CHECK(StateIn(*s, kAlice, kT0).blocked);
  CHECK(cleared.empty());
}

// su stopped (SIGSTOP) while it holds one record's lock: Prune leaves that
// file for the next time and does all the others; UnblockAll unblocks all
// the others and then fails, naming the one it could not.
TEST_CASE(
    "LocalStore: one stopped lock holder stops neither Prune nor "
    "UnblockAll") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  std::string err;
  auto s = LocalStore::Open(dir, 200, &err);
  REQUIRE(s);
  std::vector<Subject> users;
  for (int i = 0; i < 20; ++i) {
    users.push_back(Subject{SubjectKind::kUser, "u" + std::to_string(i)});
    Fail(*s, users.back(), 1000, kParams, kT0);
    std::vector<SubjectState> before;
    bool refused = false;
    const bool reset[1] = {true};
    REQUIRE(s->RecordSuccess({&users.back(), 1}, reset, {}, RefusalRule::kAny,
                             0, kT0, &before, &refused, &err));
  }
  REQUIRE(RecordFiles(dir).size() == 20);  // All empty, all kept.
  const int fd = open(FileOf(dir, users[7]).c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(flock(fd, LOCK_EX) == 0);  // The stopped holder.
  int64_t pruned = 0;
  REQUIRE_MESSAGE(s->Prune(kT0 + 1, 86400, &pruned, &err), err);
  CHECK(RecordFiles(dir) == std::vector<std::string>{RecordFileName(
                                users[7].kind, users[7].name, SipKey{})});
  // Blocks: users 3 and 7 (7's lock still held).
  REQUIRE(s->Block(users[3], 0, kT0, &err));
  close(fd);
  REQUIRE(s->Block(users[7], 0, kT0, &err));
  REQUIRE(s->Block(users[9], 0, kT0, &err));
  const int again = open(FileOf(dir, users[7]).c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(flock(again, LOCK_EX) == 0);
  std::vector<Subject> cleared;
  CHECK_FALSE(s->UnblockAll(kT0, &cleared, &err));
  CHECK(cleared == std::vector<Subject>{users[3], users[9]});
  CHECK(err == FileOf(dir, users[7]) +
                   ": cannot lock: Connection timed out (1 blocked "
                   "subject(s) not unblocked)");
  close(again);
  CHECK(StateIn(*s, users[7], kT0).blocked);
  CHECK_FALSE(StateIn(*s, users[3], kT0).blocked);
}

// Eight processes fail on the same user (and each on its own host) at once.
// Get reads without a lock: a reader racing writers sees every count it
// reads whole and in order (never torn, never going back), while 4 writers
// keep rewriting the record, and the last read after them is exact.
TEST_CASE("LocalStore: lock-free reads racing writers see whole records") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  OpenStore(dir);
  constexpr int kWriters = 4;
  constexpr int kEach = 500;
  WriteFile(dir + "/go", "", 0600);
  int fd = -1;
  const pid_t reader = ForkPiped(
      [&](int out) {
        std::string err;
        auto s = LocalStore::Open(dir, 5000, &err);
        if (!s) _exit(1);
        int64_t last = 0;
        int64_t reads = 0;
        std::string bad;
        while (access((dir + "/go").c_str(), F_OK) == 0 && bad.empty()) {
          std::vector<SubjectState> states;
          if (!s->Get({&kAlice, 1}, kT0, &states, &err)) {
            bad = "error: " + err;
          } else if (states[0].failures < last ||
                     states[0].failures > kWriters * kEach) {
            bad = "read " + std::to_string(states[0].failures) + " after " +
                  std::to_string(last);
          } else {
            last = states[0].failures;
            ++reads;
          }
        }
        const std::string text =
            bad.empty() ? "ok " + std::to_string(reads) : bad;
        if (write(out, text.data(), text.size()) < 0) _exit(3);
      },
      &fd);
  std::vector<pid_t> writers;
  for (int w = 0; w < kWriters; ++w) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::string err;
      auto s = LocalStore::Open(dir, 5000, &err);
      for (int i = 0; i < kEach && s; ++i) {
        const FailureRequest req{kAlice, 1'000'000};
        std::vector<FailureOutcome> out;
        bool refused = false;
        if (!s->RecordFailure({&req, 1}, RefusalRule::kNever,
                              FailureMode::kCount, kParams, kT0, &out, &refused,
                              &err)) {
          _exit(2);
        }
      }
      _exit(s ? 0 : 1);
    }
    writers.push_back(pid);
  }
  for (pid_t pid : writers) CHECK(Reap(pid) == 0);
  unlink((dir + "/go").c_str());
  const std::string said = ReadAll(fd);
  CHECK(Reap(reader) == 0);
  MESSAGE("reader: " << said);
  CHECK(said.rfind("ok ", 0) == 0);
  auto s = OpenStore(dir);
  CHECK(StateIn(*s, kAlice, kT0).failures == kWriters * kEach);
}

TEST_CASE("LocalStore: concurrent processes lose no failure and block once") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  OpenStore(dir);
  constexpr int kProcs = 8;
  constexpr int kEach = 150;
  const Subject bob{SubjectKind::kUser, "bob"};
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::string err;
      auto s = LocalStore::Open(dir, 5000, &err);
      int blocks = 0;
      const Subject host{SubjectKind::kHost, "10.0.0." + std::to_string(p)};
      for (int i = 0; i < kEach && s; ++i) {
        // alice and the host count every failure; bob blocks at 100.
        const FailureRequest reqs[] = {
            {kAlice, 1'000'000}, {host, 1'000'000}, {bob, 99}};
        std::vector<FailureOutcome> out;
        bool refused = false;
        if (!s->RecordFailure(reqs, RefusalRule::kNever, FailureMode::kCount,
                              kParams, kT0, &out, &refused, &err)) {
          _exit(100);
        }
        blocks += out[2].newly_blocked;
      }
      _exit(s ? blocks : 101);
    }
    pids.push_back(pid);
  }
  int blocks = 0;
  for (pid_t pid : pids) {
    const int status = Reap(pid);
    REQUIRE(status < 100);
    blocks += status;
  }
  CHECK(blocks == 1);
  auto s = OpenStore(dir);
  CHECK(StateIn(*s, kAlice, kT0).failures == kProcs * kEach);
  CHECK(StateIn(*s, bob, kT0) == SubjectState{100, true, kT0 + 600});
  for (int p = 0; p < kProcs; ++p) {
    const Subject host{SubjectKind::kHost, "10.0.0." + std::to_string(p)};
    CHECK(StateIn(*s, host, kT0).failures == kEach);
  }
}

// A success of `a` that remembers its host, then a failure from it, which
// counts on the pair and so makes the pair's file: each subject at 1.
void RememberWithPairFile(Store& s, const PairAttempt& a) {
  CHECK_FALSE(SucceedAttempt(s, a, 86400, kT0));
  bool refused = true;
  FailAttempt(s, a, kParams, kT0, &refused);
  REQUIRE_FALSE(refused);
}

// The restart of a step whose pair's file is busy (LocalStore::WaitAlone),
// under load: failing processes share the user, the host and the pair (its
// host remembered). Each restart opens the pair's file twice more (the
// wait, then the step's second try), which inotify counts. Alone, steps of
// this version never restart: each takes U's lock before the pair's and
// lets go of the pair's first, so whoever gets U's finds the pair's free.
// With another process holding the pair's lock alone a third of the time,
// as an administrator's Block does, they restart. Either way every failure
// is counted once on each subject and none times out.
TEST_CASE("LocalStore: steps that restart on a busy pair lose no failure") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  const PairAttempt home("192.0.2.10");
  RememberWithPairFile(*OpenStore(dir), home);
  const std::string pair_file = FileOf(dir, home.pair());
  const std::string pair_name = pair_file.substr(pair_file.rfind('/') + 1);
  const int watch = WatchOpens(dir);
  // The holder keeps its descriptor (one open) until "go" is removed.
  WriteFile(dir + "/go", "", 0600);
  bool with_holder = false;
  SUBCASE("steps alone") {}
  SUBCASE("another holding the pair's lock") { with_holder = true; }
  const pid_t holder = with_holder ? fork() : 0;
  REQUIRE(holder >= 0);
  if (with_holder && holder == 0) {
    const int fd = open(pair_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) _exit(1);
    while (access((dir + "/go").c_str(), F_OK) == 0) {
      if (flock(fd, LOCK_EX) != 0) _exit(2);
      usleep(500);
      flock(fd, LOCK_UN);
      usleep(1000);
    }
    _exit(0);
  }
  constexpr int kProcs = 32;
  constexpr int kEach = 50;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::string e;
      auto s = LocalStore::Open(dir, 5000, &e);
      if (!s) _exit(1);
      for (int i = 0; i < kEach; ++i) {
        std::vector<FailureRequest> reqs;
        for (const Subject& who : home.subjects) {
          reqs.push_back({who, 1'000'000});
        }
        std::vector<FailureOutcome> out;
        bool refused = false;
        if (!s->RecordFailure(reqs, RefusalRule::kAny, FailureMode::kCount,
                              kParams, kT0 + 1, &out, &refused, &e)) {
          _exit(s->lock_timed_out() ? 2 : 3);
        }
        if (refused || out[2].counted == 0) _exit(4);
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) CHECK(Reap(pid) == 0);
  REQUIRE(unlink((dir + "/go").c_str()) == 0);
  if (with_holder) CHECK(Reap(holder) == 0);
  const int pair_opens = OpensSeen(watch)[pair_name];
  close(watch);
  const int restarts =
      (pair_opens - (with_holder ? 1 : 0) - kProcs * kEach) / 2;
  MESSAGE("pair file opened " << pair_opens << " times: " << restarts
                              << " restarts");
  if (with_holder) {
    CHECK(restarts > 0);
  } else {
    CHECK(pair_opens == kProcs * kEach);
  }
  auto s = OpenStore(dir);
  const int64_t counted = 1 + kProcs * kEach;
  CHECK(StateIn(*s, home.subjects[0], kT0 + 1).failures == counted);
  CHECK(StateIn(*s, home.subjects[1], kT0 + 1).failures == counted);
  CHECK(StateIn(*s, home.pair(), kT0 + 1).failures == counted);
}

// A setuid caller's preauth (GetForDecision, then RecordFailure) and a key
// login's account step (GetForDecision, then RecordSuccess) make two
// calls: the module shares one budget between them (ShareWaitBudget),
// defenderctl's calls have one each. The decision read waits half the
// timeout for a record that reads torn (it then takes LOCK_SH), and the
// failure finds the record's lock held again.
TEST_CASE("LocalStore: the calls of one step can share one wait budget") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  std::string err;
  auto s = OpenStore(dir, kTimeoutMs);
  Fail(*s, kAlice, 5, kParams, kT0);
  const std::string file = FileOf(dir, kAlice);
  WriteFile(file, std::string(100, 'x'), 0600);  // Reads as torn.
  bool shared = false;
  SUBCASE("one budget for the step") {
    shared = true;
    s->ShareWaitBudget();
  }
  SUBCASE("a budget for each call") {}
  const int fd = LockAsAnother(file);
  const steady_clock::time_point start = steady_clock::now();
  std::thread holder([&] {
    std::this_thread::sleep_until(start + milliseconds(kTimeoutMs / 2));
    flock(fd, LOCK_UN);
  });
  std::vector<SubjectState> states;
  const bool read = s->GetForDecision({&kAlice, 1}, kT0, &states, &err);
  holder.join();
  REQUIRE(flock(fd, LOCK_EX) == 0);  // Held again for the failure.
  const FailureRequest req{kAlice, 5};
  std::vector<FailureOutcome> out;
  bool refused = false;
  const bool counted =
      s->RecordFailure({&req, 1}, RefusalRule::kAny, FailureMode::kCount,
                       kParams, kT0, &out, &refused, &err);
  const int64_t took = MsSince(start);
  close(fd);
  MESSAGE("both calls returned after " << took << " ms");
  CHECK(read);
  CHECK_FALSE(counted);
  CHECK(s->lock_timed_out());
  CHECK(err == file + ": cannot lock: Connection timed out");
  if (shared) {
    CHECK(took >= kTimeoutMs);
    CHECK(took < kTimeoutMs * 5 / 4);
  } else {
    CHECK(took >= kTimeoutMs * 3 / 2);
  }
}

// Every call that waits for locks starts a budget of its own (unless
// shared): one call that spent all of its budget leaves the next one its
// whole timeout. The record reads as torn, so that Get and GetForDecision
// wait too (LOCK_SH).
TEST_CASE("LocalStore: each call has a wait budget of its own") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  std::string err;
  auto s = OpenStore(dir, kTimeoutMs / 2);
  Fail(*s, kAlice, 5, kParams, kT0);
  const std::string file = FileOf(dir, kAlice);
  const int fd = LockAsAnother(file);
  CHECK_FALSE(s->Block(kAlice, kT0 + 100, kT0, &err));  // Spends it all.
  REQUIRE(s->lock_timed_out());
  WriteFile(file, std::string(100, 'x'), 0600);
  std::vector<SubjectState> states;
  std::vector<FailureOutcome> out;
  bool flag = false;
  int64_t removed = 0;
  const FailureRequest req{kAlice, 5};
  const bool reset[] = {true};
  std::function<bool()> call;
  SUBCASE("Get") {
    call = [&] { return s->Get({&kAlice, 1}, kT0, &states, &err); };
  }
  SUBCASE("GetForDecision") {
    call = [&] { return s->GetForDecision({&kAlice, 1}, kT0, &states, &err); };
  }
  SUBCASE("RecordFailure") {
    call = [&] {
      return s->RecordFailure({&req, 1}, RefusalRule::kAny, FailureMode::kCount,
                              kParams, kT0, &out, &flag, &err);
    };
  }
  SUBCASE("RecordSuccess") {
    call = [&] {
      return s->RecordSuccess({&kAlice, 1}, reset, {}, RefusalRule::kAny, 0,
                              kT0, &states, &flag, &err);
    };
  }
  SUBCASE("Block") {
    call = [&] { return s->Block(kAlice, kT0 + 100, kT0, &err); };
  }
  SUBCASE("Unblock") {
    call = [&] { return s->Unblock(kAlice, kT0, &flag, &err); };
  }
  SUBCASE("Forget") {
    call = [&] {
      return s->Forget("alice", std::nullopt, kT0, &removed, &err);
    };
  }
  std::thread holder([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    flock(fd, LOCK_UN);
  });
  const bool ok = call();
  holder.join();
  close(fd);
  CHECK_MESSAGE(ok, err);
}

// The restart limit (LocalStore::WaitAlone), reached deterministically:
// a holder keeps the pair's lock while the step takes U's and H's, so
// that the step finds it busy and lets go of its locks; then takes U's,
// lets the step have the pair's alone, and takes the pair's back before
// it lets U's go, so that the step, which must take U's again first, finds
// the pair's busy once more. The holder follows the step by its closes of
// the pair's file: one when it finds the lock busy, one after it waited
// for it alone.
TEST_CASE(
    "LocalStore: a step kept busy on its pair gives up after 16 restarts") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  const PairAttempt home("192.0.2.10");
  RememberWithPairFile(*OpenStore(dir), home);
  const std::string pair_file = FileOf(dir, home.pair());
  const int user_fd =
      open(FileOf(dir, home.subjects[0]).c_str(), O_RDONLY | O_CLOEXEC);
  const int pair_fd = LockAsAnother(pair_file);
  const int closes = inotify_init1(IN_CLOEXEC);
  REQUIRE(user_fd >= 0);
  REQUIRE(closes >= 0);
  REQUIRE(inotify_add_watch(closes, pair_file.c_str(), IN_CLOSE_WRITE) >= 0);
  // The next close of the pair's file by a writer; false after 10 s.
  const auto next_close = [&] {
    pollfd p{closes, POLLIN, 0};
    alignas(inotify_event) char buf[256];
    return poll(&p, 1, 10'000) == 1 && read(closes, buf, sizeof buf) > 0;
  };
  std::atomic<bool> done{false};
  int waited_alone = 0;
  std::thread holder([&] {
    for (;;) {
      if (!next_close() || done) return;  // The step found the pair busy.
      flock(user_fd, LOCK_EX);            // Once the step let go of U's.
      flock(pair_fd, LOCK_UN);
      const bool closed = next_close();  // The step had it alone.
      flock(pair_fd, LOCK_EX);
      flock(user_fd, LOCK_UN);
      if (!closed || done) return;
      ++waited_alone;
    }
  });
  std::string err;
  auto s = LocalStore::Open(dir, 5000, &err);
  REQUIRE(s != nullptr);
  std::vector<FailureRequest> reqs;
  for (const Subject& who : home.subjects) reqs.push_back({who, 1'000'000});
  std::vector<FailureOutcome> out;
  bool refused = false;
  const bool ok = s->RecordFailure(reqs, RefusalRule::kAny, FailureMode::kCount,
                                   kParams, kT0 + 1, &out, &refused, &err);
  done = true;
  close(open(pair_file.c_str(), O_RDWR | O_CLOEXEC));  // Wakes the holder.
  holder.join();
  close(closes);
  close(pair_fd);
  close(user_fd);
  CHECK_FALSE(ok);
  CHECK(s->lock_timed_out());
  CHECK(err == pair_file + ": cannot lock: kept busy by other steps");
  CHECK(waited_alone == 16);
  for (const Subject& who : home.subjects) {
    CHECK(StateIn(*s, who, kT0 + 1).failures == 1);
  }
}

// One call's lock waits last lock_timeout_ms together. A failure from a
// remembered host waits for U's lock (held for half the timeout), then
// finds the pair's held by another, lets go, and waits for the pair's
// alone: with what the first wait left, not a timeout of its own (which
// made a step that kept restarting wait up to 17 timeouts).
TEST_CASE("LocalStore: a call's lock waits end together within the timeout") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  std::string err;
  auto s = OpenStore(dir, kTimeoutMs);
  const PairAttempt home("192.0.2.10");
  RememberWithPairFile(*s, home);
  bool refused = true;
  const int user_fd = LockAsAnother(FileOf(dir, home.subjects[0]));
  const std::string pair_file = FileOf(dir, home.pair());
  const int pair_fd = LockAsAnother(pair_file);
  // The pair's lock is let go of after 80% of the timeout, or never.
  bool pair_freed = false;
  SUBCASE("the pair's lock outlasts the time left") {}
  SUBCASE("the pair's lock is freed in time") { pair_freed = true; }
  const steady_clock::time_point start = steady_clock::now();
  std::thread holder([&] {
    std::this_thread::sleep_until(start + milliseconds(kTimeoutMs / 2));
    flock(user_fd, LOCK_UN);
    if (pair_freed) {
      std::this_thread::sleep_until(start + milliseconds(kTimeoutMs * 8 / 10));
      flock(pair_fd, LOCK_UN);
    }
  });
  std::vector<FailureRequest> reqs;
  for (const Subject& who : home.subjects) reqs.push_back({who, 1'000'000});
  std::vector<FailureOutcome> out;
  const bool ok = s->RecordFailure(reqs, RefusalRule::kAny, FailureMode::kCount,
                                   kParams, kT0 + 1, &out, &refused, &err);
  const int64_t waited = MsSince(start);
  holder.join();
  close(pair_fd);
  close(user_fd);
  MESSAGE("RecordFailure returned after " << waited << " ms");
  const int64_t failures = pair_freed ? 2 : 1;
  if (pair_freed) {
    CHECK(ok);
    CHECK_FALSE(s->lock_timed_out());
    CHECK(waited >= kTimeoutMs * 8 / 10);
  } else {
    CHECK_FALSE(ok);
    CHECK(s->lock_timed_out());
    CHECK(err == pair_file + ": cannot lock: Connection timed out");
    // A wait of its own for the pair's lock would end at 1.5 timeouts.
    CHECK(waited >= kTimeoutMs);
    CHECK(waited < kTimeoutMs * 5 / 4);
  }
  for (const Subject& who : home.subjects) {
    CHECK(StateIn(*s, who, kT0 + 1).failures == failures);
  }
}

// Holds `file`'s lock as another process would (LockAsAnother) for
// kWaitMs from construction, then lets go; joins and closes on destruction.
// A call that waits for it waits 1.5 s, which moves the call's time on by
// 1 s (LocalStore::AfterWaits; 2 s only if the machine stalls the test for
// half a second). Real time, as the waits are.
constexpr int kWaitMs = 1500;
class HeldForAWhile {
 public:
  explicit HeldForAWhile(const std::string& file)
      : fd_(LockAsAnother(file)), holder_([this] {
          std::this_thread::sleep_for(milliseconds(kWaitMs));
          flock(fd_, LOCK_UN);
        }) {}
  ~HeldForAWhile() {
    holder_.join();
    close(fd_);
  }

 private:
  int fd_;
  std::thread holder_;
};

// Counters end 60 s after their last failure; a block lasts 600 s.
const LockoutParams kMinuteParams{60, {600}, 86400};
constexpr int64_t kRemember = 86400;  // A remembered host, for a day.

// A call that waited for its locks decides at the time it got them: its
// caller read the time before the call, up to lock_timeout_ms earlier.
TEST_CASE("LocalStore: a call that waited for its locks decides at that time") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir, 5000);
  REQUIRE(Fail(*s, kAlice, 1, kMinuteParams, kT0).state.failures == 1);
  int64_t at = 0;
  int64_t failures = 0;
  bool blocks = false;
  SUBCASE("a counter that ended meanwhile starts anew") {
    at = kT0 + 59;  // kT0 + 60 once the lock is got: the counter has ended.
    failures = 1;
  }
  SUBCASE("a block lasts its length from then") {
    at = kT0 + 10;
    failures = 2;
    blocks = true;
  }
  const FailureRequest req{kAlice, 1};
  std::vector<FailureOutcome> out;
  bool refused = true;
  std::string err;
  bool ok;
  {
    HeldForAWhile held(FileOf(dir, kAlice));
    ok = s->RecordFailure({&req, 1}, RefusalRule::kAny, FailureMode::kCount,
                          kMinuteParams, at, &out, &refused, &err);
  }
  REQUIRE_MESSAGE(ok, err);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(refused);
  CHECK(out[0].state.failures == failures);
  CHECK(out[0].newly_blocked == blocks);
  CHECK(out[0].state.until == (blocks ? at + 1 + 600 : 0));
  // Written as decided: a counter's end, or the block's, from at + 1.
  const SubjectState later = StateIn(*s, kAlice, at + 1);
  CHECK(later.failures == failures);
  CHECK(later.blocked == blocks);
  if (!blocks) CHECK(StateIn(*s, kAlice, at + 1 + 60).failures == 0);
  if (!blocks) CHECK(StateIn(*s, kAlice, at + 60).failures == 1);
}

// The same for every call that waits, and each call of a step sharing one
// budget (ShareWaitBudget) moves on by its own waits only.
TEST_CASE("LocalStore: each call that waited decides at the time it got them") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir, 5000);
  std::string err;
  const PairAttempt home("192.0.2.10");
  SUBCASE("a block that ended during the wait refuses nothing") {
    REQUIRE(s->Block(kAlice, kT0 + 10, kT0, &err));
    const FailureRequest req{kAlice, 5};
    std::vector<FailureOutcome> out;
    bool refused = true;
    bool ok;
    {
      HeldForAWhile held(FileOf(dir, kAlice));
      ok = s->RecordFailure({&req, 1}, RefusalRule::kAny, FailureMode::kCount,
                            kMinuteParams, kT0 + 9, &out, &refused, &err);
    }
    REQUIRE_MESSAGE(ok, err);
    CHECK_FALSE(refused);
    CHECK(out[0].counted != 0);
    CHECK(out[0].state.failures == 1);
    CHECK_FALSE(out[0].state.blocked);
  }
  SUBCASE("a step with a pair reads the states once, at that time") {
    RememberWithPairFile(*s, home);
    const int64_t at = kT0 + 100;
    // The host's block ends at at + 2: still on at at + 1, gone at at + 2
    // (counted twice).
    REQUIRE(s->Block(home.subjects[1], at + 2, kT0, &err));
    bool refused = false;
    {
      HeldForAWhile held(FileOf(dir, kAlice));
      FailAttempt(*s, home, kParams, at, &refused);
    }
    CHECK(refused);
  }
  SUBCASE("a success remembers its host from that time") {
    Fail(*s, kAlice, 5, kParams, kT0);  // U's file, for the lock.
    const int64_t at = kT0 + 2799;      // The hour's last second.
    REQUIRE(RememberUntil(at + 1, kRemember) ==
            RememberUntil(at, kRemember) + 3600);
    {
      HeldForAWhile held(FileOf(dir, kAlice));
      CHECK_FALSE(SucceedAttempt(*s, home, kRemember, at));
    }
    const std::vector<RememberedEntry> r = Remembered(*s, at + 1);
    REQUIRE(r.size() == 1);
    CHECK(r[0].until == RememberUntil(at + 1, kRemember));
  }
  SUBCASE("Block keeps no counter that ended meanwhile") {
    Fail(*s, kAlice, 5, kMinuteParams, kT0);  // Ends at kT0 + 60.
    {
      HeldForAWhile held(FileOf(dir, kAlice));
      REQUIRE(s->Block(kAlice, kT0 + 1000, kT0 + 59, &err));
    }
    const SubjectState st = StateIn(*s, kAlice, kT0 + 61);
    CHECK(st.blocked);
    CHECK(st.failures == 0);
  }
  SUBCASE("Unblock finds a block that ended meanwhile not blocked") {
    REQUIRE(s->Block(kAlice, kT0 + 10, kT0, &err));
    bool was_blocked = true;
    {
      HeldForAWhile held(FileOf(dir, kAlice));
      REQUIRE(s->Unblock(kAlice, kT0 + 9, &was_blocked, &err));
    }
    CHECK_FALSE(was_blocked);
  }
  SUBCASE("UnblockAll neither clears nor lists a block that ended meanwhile") {
    REQUIRE(s->Block(kAlice, kT0 + 10, kT0, &err));
    std::vector<Subject> cleared{kAlice};
    {
      HeldForAWhile held(FileOf(dir, kAlice));
      REQUIRE(s->UnblockAll(kT0 + 9, &cleared, &err));
    }
    CHECK(cleared.empty());
  }
  SUBCASE("Forget drops a remembered host that expired meanwhile") {
    Fail(*s, kAlice, 5, kParams, kT0);
    CHECK_FALSE(SucceedAttempt(*s, home, kRemember, kT0));
    const int64_t until = RememberUntil(kT0, kRemember);
    REQUIRE(Remembered(*s, until - 1).size() == 1);
    int64_t removed = -1;
    {
      HeldForAWhile held(FileOf(dir, kAlice));
      REQUIRE(s->Forget("alice", std::string("192.0.2.99"), until - 1, &removed,
                        &err));
    }
    CHECK(removed == 0);                       // Not the host forgotten.
    CHECK(Remembered(*s, until - 1).empty());  // Dropped as expired.
  }
  SUBCASE("the calls of one step: each moves on by its own waits") {
    s->ShareWaitBudget();
    const Subject bob{SubjectKind::kUser, "bob"};
    Fail(*s, bob, 10, kMinuteParams, kT0);
    {
      HeldForAWhile held(FileOf(dir, bob));
      Fail(*s, bob, 10, kMinuteParams, kT0 + 10);  // Waits 1.5 s.
    }
    // The next call's caller read the time after that wait (Policy does):
    // kT0 + 12, and this call waits for nothing.
    Fail(*s, kAlice, 1, kMinuteParams, kT0 + 12);
    const FailureOutcome o = Fail(*s, kAlice, 1, kMinuteParams, kT0 + 12);
    CHECK(o.newly_blocked);
    CHECK(o.state.until == kT0 + 12 + 600);
  }
}

// A success that resets a record, and a Prune that then unlinks the emptied
// file, race failures on it: each failure is either reset by a success
// (which saw it) or still there, never counted in a file unlinked under it.
TEST_CASE("LocalStore: a reset and prune racing failures loses no failure") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  OpenStore(dir);
  constexpr int kFailures = 3000;
  // Before the resetter starts: it runs while the file exists.
  WriteFile(dir + "/go", "", 0600);
  int fd = -1;
  const pid_t resetter = ForkPiped(
      [&](int out) {
        std::string err;
        auto s = LocalStore::Open(dir, 5000, &err);
        if (!s) _exit(1);
        int64_t seen = 0;
        const bool reset[] = {true};
        // Until the failing process is done (it removes "go").
        while (access((dir + "/go").c_str(), F_OK) == 0) {
          std::vector<SubjectState> before;
          bool refused = false;
          int64_t pruned = 0;
          if (!s->RecordSuccess({&kAlice, 1}, reset, {}, RefusalRule::kAny, 0,
                                kT0, &before, &refused, &err) ||
              !s->Prune(kT0, 86400, &pruned, &err)) {
            _exit(2);
          }
          seen += before[0].failures;
        }
        const std::string text = std::to_string(seen);
        if (write(out, text.data(), text.size()) < 0) _exit(3);
      },
      &fd);
  const std::string failed = InChild([&] {
    std::string err;
    auto s = LocalStore::Open(dir, 5000, &err);
    if (!s) return std::string("cannot open");
    for (int i = 0; i < kFailures; ++i) {
      const FailureRequest req{kAlice, 1'000'000};
      std::vector<FailureOutcome> out;
      bool refused = false;
      if (!s->RecordFailure({&req, 1}, RefusalRule::kAny, FailureMode::kCount,
                            kParams, kT0, &out, &refused, &err)) {
        return err;
      }
    }
    return std::string();
  });
  unlink((dir + "/go").c_str());
  CHECK(failed == "");
  const std::string seen = ReadAll(fd);
  CHECK(Reap(resetter) == 0);
  auto s = OpenStore(dir);
  const int64_t left = StateIn(*s, kAlice, kT0).failures;
  MESSAGE("reset " << seen << " failures, " << left << " left");
  CHECK(std::stoll(seen) + left == kFailures);
  CHECK(std::stoll(seen) > 0);  // The race did happen.
}

// The same with a pair (doc/DESIGN.md §3.14): failures from a remembered
// host count on U, H and U@H, each success from it resets the three, and
// Prune unlinks the pair's file whenever a success has emptied it, so that
// failures make it again and successes find it absent. Every step locks
// the three files (the pair's last), so the three counts stay equal: a
// success that left out a pair file a failure had just made would leave
// the pair ahead of U, which the next step sees.
TEST_CASE("LocalStore: successes racing failures from a remembered host") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  const PairAttempt home("192.0.2.10");
  constexpr int64_t kDay = 86400;
  CHECK_FALSE(SucceedAttempt(*OpenStore(dir), home, kDay, kT0));
  constexpr int kFailers = 3;
  constexpr int kFailures = 2000;  // Each.
  WriteFile(dir + "/go", "", 0600);
  int fd = -1;
  const pid_t resetter = ForkPiped(
      [&](int out) {
        std::string err;
        auto s = LocalStore::Open(dir, 5000, &err);
        if (!s) _exit(1);
        int64_t seen[3] = {0, 0, 0};
        const bool reset[] = {true, true, true};
        while (access((dir + "/go").c_str(), F_OK) == 0) {
          std::vector<SubjectState> before;
          bool refused = false;
          int64_t pruned = 0;
          if (!s->RecordSuccess(home.subjects, reset, {}, RefusalRule::kAny,
                                kDay, kT0, &before, &refused, &err) ||
              refused || !s->Prune(kT0, 86400, &pruned, &err)) {
            _exit(2);
          }
          for (int i = 0; i < 3; ++i) seen[i] += before[i].failures;
          if (before[1].failures != before[0].failures ||
              before[2].failures != before[0].failures) {
            _exit(4);  // A reset left one of the three out.
          }
        }
        const std::string text = std::to_string(seen[0]) + " " +
                                 std::to_string(seen[1]) + " " +
                                 std::to_string(seen[2]);
        if (write(out, text.data(), text.size()) < 0) _exit(3);
      },
      &fd);
  std::vector<pid_t> failers;
  std::vector<int> failer_fds;
  for (int f = 0; f < kFailers; ++f) {
    int efd = -1;
    failers.push_back(ForkPiped(
        [&](int out) {
          std::string err;
          auto s = LocalStore::Open(dir, 5000, &err);
          for (int i = 0; s && i < kFailures && err.empty(); ++i) {
            std::vector<FailureRequest> reqs;
            for (const Subject& who : home.subjects) {
              reqs.push_back({who, 1'000'000});
            }
            std::vector<FailureOutcome> outcomes;
            bool refused = false;
            if (!s->RecordFailure(reqs, RefusalRule::kAny, FailureMode::kCount,
                                  kParams, kT0, &outcomes, &refused, &err) ||
                refused || outcomes[2].counted == 0) {
              if (err.empty()) err = "not counted on the pair";
            } else if (outcomes[1].state.failures !=
                           outcomes[0].state.failures ||
                       outcomes[2].state.failures !=
                           outcomes[0].state.failures) {
              err = "counts apart: " +
                    std::to_string(outcomes[0].state.failures) + " " +
                    std::to_string(outcomes[1].state.failures) + " " +
                    std::to_string(outcomes[2].state.failures);
            }
          }
          if (!s) err = "cannot open";
          if (!err.empty() && write(out, err.data(), err.size()) < 0) {
            _exit(3);
          }
        },
        &efd));
    failer_fds.push_back(efd);
  }
  for (int f = 0; f < kFailers; ++f) {
    CHECK(ReadAll(failer_fds[f]) == "");
    close(failer_fds[f]);
    CHECK(Reap(failers[f]) == 0);
  }
  unlink((dir + "/go").c_str());
  const std::string seen = ReadAll(fd);
  close(fd);
  CHECK(Reap(resetter) == 0);
  int64_t reset[3] = {-1, -1, -1};
  REQUIRE(sscanf(seen.c_str(), "%ld %ld %ld", &reset[0], &reset[1],
                 &reset[2]) == 3);
  const std::vector<SubjectState> left = GetAttempt(*OpenStore(dir), home, kT0);
  MESSAGE("reset " << seen << "; left " << left[0].failures << " "
                   << left[1].failures << " " << left[2].failures);
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(reset[i] + left[i].failures == kFailers * kFailures);
    CHECK(reset[i] == reset[0]);
    CHECK(left[i].failures == left[0].failures);
  }
  CHECK(reset[0] > 0);  // The race did happen.
}

// A writer killed at a random point leaves every record readable, with at
// most the killed step's failure more than it reported.
TEST_CASE("LocalStore: a writer killed with SIGKILL at any point") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir);
  std::mt19937 rng(42);
  const Subject host{SubjectKind::kHost, "10.9.9.9"};
  for (int round = 0; round < 300; ++round) {
    const int64_t before = StateIn(*s, kAlice, kT0).failures;
    CHECK(StateIn(*s, host, kT0).failures == before);
    int fd = -1;
    const pid_t pid = ForkPiped(
        [&](int out) {
          std::string err;
          auto w = LocalStore::Open(dir, 5000, &err);
          if (!w) _exit(1);
          for (;;) {
            const FailureRequest reqs[] = {{kAlice, 1'000'000},
                                           {host, 1'000'000}};
            std::vector<FailureOutcome> o;
            bool refused = false;
            if (!w->RecordFailure(reqs, RefusalRule::kAny, FailureMode::kCount,
                                  kParams, kT0, &o, &refused, &err) ||
                write(out, "x", 1) != 1) {
              _exit(2);
            }
          }
        },
        &fd);
    usleep(std::uniform_int_distribution<int>(0, 3000)(rng));
    kill(pid, SIGKILL);
    const int64_t done = static_cast<int64_t>(ReadAll(fd).size());
    REQUIRE(Reap(pid) == 128 + SIGKILL);
    const int64_t after = StateIn(*s, kAlice, kT0).failures;
    CAPTURE(round);
    CHECK(after - before >= done);
    CHECK(after - before <= done + 1);
    const int64_t host_after = StateIn(*s, host, kT0).failures;
    CHECK(host_after - before >= done);
    CHECK(host_after - before <= done + 1);
    // Both subjects' files hold a valid record (or the host's is still
    // empty: killed between creating and writing it).
    for (const Subject& who : {kAlice, host}) {
      const std::string bytes = ReadFile(FileOf(dir, who));
      SubjectRecord r;
      int slot;
      CHECK((bytes.empty() ||
             DecodeRecordFile(
                 {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                 &r, &slot)));
    }
    if (host_after != after) {
      // The step was killed between its two writes: the next one finds
      // them apart; bring them together for the next round.
      const Subject& behind = host_after < after ? host : kAlice;
      Fail(*s, behind, 1'000'000, kParams, kT0);
    }
  }
}

TEST_CASE("LocalStore: List Stats and Prune on 100000 subjects") {
  TempDir tmp;
  const std::string dir = tmp / "s";
  auto s = OpenStore(dir);
  constexpr int kSubjects = 100'000;
  for (int i = 0; i < kSubjects; ++i) {
    SubjectRecord r;
    r.kind = i % 2 ? SubjectKind::kHost : SubjectKind::kUser;
    r.name = "subject" + std::to_string(i);
    // Every 10th blocked for a day (with a block in its history), the
    // others failing with a counter that expires at kT0 + 100 for half.
    const bool blocked = i % 10 == 0;
    r.state = StoredRecord{blocked ? 4 : 1, blocked,
                           kT0 + (blocked     ? 86400
                                  : i % 4 < 2 ? 100
                                              : 3600)};
    if (blocked) r.history = {kT0 - 60};
    WriteRecord(FileOf(dir, {r.kind, r.name}), r);
  }
  std::string err;
  std::vector<StoreEntry> listed;
  double cpu0 = CpuMs();
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(s->List(kT0, false, &listed, &err));
  auto ms = [&] {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - t0)
                              .count()) +
           " ms (CPU " + std::to_string(static_cast<int>(CpuMs() - cpu0)) +
           " ms)";
  };
  MESSAGE("List of 100,000 subjects: " << ms());
  CHECK(listed.size() == kSubjects);
  CHECK(listed.front().subject == Subject{SubjectKind::kUser, "subject0"});
  CHECK(listed.back().subject == Subject{SubjectKind::kHost, "subject99999"});
  StoreStats st;
  REQUIRE(s->Stats(kT0, 86400, &st, &err));
  CheckStats(st, {10000, 0, 0, 40000, 50000, 130000, 10000});
  t0 = std::chrono::steady_clock::now();
  cpu0 = CpuMs();
  int64_t removed = 0;
  REQUIRE(s->Prune(kT0 + 100, 86400, &removed, &err));
  MESSAGE("Prune deleting 45,000 of 100,000 subjects: " << ms());
  // i % 10 != 0 and i % 4 < 2: 45,000 counters ended at kT0 + 100.
  CHECK(removed == 45'000);
  CHECK(RecordFiles(dir).size() == kSubjects - 45'000);
  REQUIRE(s->List(kT0 + 100, true, &listed, &err));
  CHECK(listed.size() == 10'000);
}

}  // namespace
}  // namespace defender::testing
