// The attempt journal (common/journal_record.h, journal.h) and its archive
// (archive.h): the record codec on damaged input, the writer's bounds and
// checks, and ingests racing writers and crashing (real files, real
// processes, real SQLite).
#include "common/journal.h"

#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/archive.h"
#include "common/journal_record.h"
#include "tests/support/files.h"
#include "tests/support/process.h"

namespace defender {
namespace {

using testing::ReadFile;
using testing::TempDir;

Attempt MakeAttempt(int64_t time, const std::string& user,
                    const std::string& result = "failure") {
  return Attempt{time, "sshd", user, "192.0.2.1", "ssh", result};
}

bool Same(const Attempt& a, const Attempt& b) {
  return a.time == b.time && a.service == b.service && a.user == b.user &&
         a.host == b.host && a.tty == b.tty && a.result == b.result;
}

std::string Encode(const Attempt& a) {
  std::string out;
  std::string err;
  REQUIRE_MESSAGE(EncodeRecord(a, &out, &err), err);
  return out;
}

std::vector<Attempt> Scan(std::string_view data, JournalScan* scan) {
  std::vector<Attempt> out;
  *scan = ScanJournal(data, [&](const Attempt& a) { out.push_back(a); });
  CHECK(scan->records == static_cast<int64_t>(out.size()));
  return out;
}

// `damaged` followed by a good record reads as the good record alone,
// with every byte of `damaged` skipped and counted.
void CheckSkippedBeforeGood(const std::string& damaged) {
  const std::string good = Encode(MakeAttempt(9, "ok"));
  JournalScan scan;
  const std::vector<Attempt> out = Scan(damaged + good, &scan);
  REQUIRE(out.size() == 1);
  CHECK(out[0].user == "ok");
  CHECK(scan.skipped_bytes == static_cast<int64_t>(damaged.size()));
}

TEST_CASE("journal record: round trip of every result, exact size") {
  const std::vector<Attempt> in = {
      MakeAttempt(1'800'000'000, "alice", "failure"),
      Attempt{kMinRecordTime, "", "", "", "", "success"},
      Attempt{kMaxRecordTime, "su", "b\xff\x01ob", "2001:db8::/64", "pts/3",
              "refused"}};
  std::string data;
  for (const Attempt& a : in) data += Encode(a);
  CHECK(Encode(in[0]).size() == kRecordOverhead + kMinPayload + 4 + 5 + 9 + 3);
  CHECK(Encode(in[1]).size() == kRecordOverhead + kMinPayload);
  JournalScan scan;
  const std::vector<Attempt> out = Scan(data, &scan);
  REQUIRE(out.size() == 3);
  for (size_t i = 0; i < in.size(); ++i) CHECK(Same(out[i], in[i]));
  CHECK(scan.skipped_bytes == 0);
  CHECK(Scan("", &scan).empty());
  CHECK(scan.skipped_bytes == 0);
}

TEST_CASE("journal record: an unknown result is an error") {
  std::string out = "x";
  std::string err;
  CHECK_FALSE(EncodeRecord(MakeAttempt(1, "a", "maybe"), &out, &err));
  CHECK(err == "unknown attempt result \"maybe\"");
  CHECK(out == "x");
}

// A hostile journal (its directory is root's) held times that no clock
// gives: INT64_MAX showed in `attempts --json` as a number where an ISO
// 8601 string is promised, INT64_MIN was archived but never listed.
TEST_CASE("journal record: a time out of range is damage, not a record") {
  std::string out = "x";
  std::string err;
  for (const int64_t t :
       {int64_t{-1}, kMaxRecordTime + 1, INT64_MAX, INT64_MIN}) {
    INFO(t);
    CHECK_FALSE(EncodeRecord(MakeAttempt(t, "a"), &out, &err));
    CHECK(err == "attempt time " + std::to_string(t) + " out of range");
    CHECK(out == "x");
    // The same record made by hand, its CRC right: skipped and counted.
    std::string rec = Encode(MakeAttempt(1, "a"));
    for (int i = 0; i < 8; ++i) {
      rec[8 + i] = static_cast<char>(static_cast<uint64_t>(t) >> (8 * i));
    }
    const uint32_t crc = Crc32(std::string_view(rec).substr(4, rec.size() - 8));
    for (int i = 0; i < 4; ++i) {
      rec[rec.size() - 4 + i] = static_cast<char>(crc >> (8 * i));
    }
    CheckSkippedBeforeGood(rec);
  }
}

TEST_CASE("journal record: fields are cut to kMaxFieldBytes") {
  Attempt a = MakeAttempt(7, std::string(1000, 'u'));
  a.tty = std::string(kMaxFieldBytes, 't');
  const std::string rec = Encode(a);
  CHECK(rec.size() <= kMaxRecordBytes);
  JournalScan scan;
  const std::vector<Attempt> out = Scan(rec, &scan);
  REQUIRE(out.size() == 1);
  CHECK(out[0].user == std::string(kMaxFieldBytes, 'u'));
  CHECK(out[0].tty == a.tty);
}

// A record built by hand whose user field is longer than the reader allows
// but whose length and CRC are right: still refused.
TEST_CASE("journal record: an oversized field is damage, not a record") {
  std::string payload(8, '\0');  // time 0
  payload.push_back('\0');       // failure
  const auto field = [&](size_t n) {
    payload.push_back(static_cast<char>(n & 0xff));
    payload.push_back(static_cast<char>(n >> 8));
    payload.append(n, 'x');
  };
  field(0);
  field(kMaxFieldBytes + 1);
  field(0);
  field(0);
  REQUIRE(payload.size() <= kMaxPayload);
  std::string body;
  for (int i = 0; i < 4; ++i) {
    body.push_back(static_cast<char>(payload.size() >> (8 * i)));
  }
  body += payload;
  const uint32_t crc = Crc32(body);
  std::string rec(kJournalMagic, 4);
  rec += body;
  for (int i = 0; i < 4; ++i) rec.push_back(static_cast<char>(crc >> (8 * i)));
  CheckSkippedBeforeGood(rec);
  CHECK(Crc32("123456789") == 0xCBF43926u);  // The standard check value.
}

TEST_CASE("journal record: a torn tail is skipped and counted, at any cut") {
  const std::string a = Encode(MakeAttempt(1, "first"));
  const std::string b = Encode(MakeAttempt(2, "second"));
  for (size_t keep = 0; keep < b.size(); ++keep) {
    CAPTURE(keep);
    JournalScan scan;
    const std::vector<Attempt> out = Scan(a + b.substr(0, keep), &scan);
    REQUIRE(out.size() == 1);
    CHECK(out[0].user == "first");
    CHECK(scan.skipped_bytes == static_cast<int64_t>(keep));
  }
}

TEST_CASE("journal record: garbage and a damaged record in the middle") {
  const std::string a = Encode(MakeAttempt(1, "a"));
  const std::string b = Encode(MakeAttempt(2, "b"));
  const std::string c = Encode(MakeAttempt(3, "c"));
  // Garbage holding a magic and a bogus length.
  const std::string garbage = std::string("junk") + kJournalMagic[0] +
                              std::string("PDJ\xff\xff\xff\xff", 7) + "zz";
  JournalScan scan;
  std::vector<Attempt> out = Scan(a + garbage + b, &scan);
  REQUIRE(out.size() == 2);
  CHECK(out[1].user == "b");
  CHECK(scan.skipped_bytes == static_cast<int64_t>(garbage.size()));

  // Every single-byte change in b loses b alone (the CRC or a bound catches
  // it), never a, c or the scan.
  for (size_t i = 0; i < b.size(); ++i) {
    CAPTURE(i);
    std::string bad = b;
    bad[i] = static_cast<char>(bad[i] ^ 0x41);
    out = Scan(a + bad + c, &scan);
    REQUIRE(out.size() == 2);
    CHECK(out[0].user == "a");
    CHECK(out[1].user == "c");
    CHECK(scan.skipped_bytes == static_cast<int64_t>(b.size()));
  }
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST_CASE("JournalWriter: creates dir 0700 and journal 0600, appends") {
  TempDir tmp;
  const std::string dir = tmp / "state";
  JournalWriter w(dir);
  std::string err;
  REQUIRE_MESSAGE(w.Append(MakeAttempt(1, "a"), &err), err);
  REQUIRE_MESSAGE(w.Append(MakeAttempt(2, "b", "success"), &err), err);
  struct stat st;
  REQUIRE(stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  const std::string path = dir + "/" + kJournalName;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(ReadFile(path) ==
        Encode(MakeAttempt(1, "a")) + Encode(MakeAttempt(2, "b", "success")));
}

// As the local store's directory (OpenStateDir): 0700 whatever the umask.
TEST_CASE("JournalWriter: its directory is 0700 under umask 0777") {
  TempDir tmp;
  const std::string dir = tmp / "state";
  JournalWriter w(dir);
  std::string err;
  const mode_t old = umask(0777);
  const bool ok = w.Append(MakeAttempt(1, "a"), &err);
  umask(old);
  REQUIRE_MESSAGE(ok, err);
  struct stat st;
  REQUIRE(stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
}

TEST_CASE(
    "JournalWriter: beyond max_bytes records are dropped, with an error") {
  TempDir tmp;
  const std::string rec = Encode(MakeAttempt(1, "a"));
  JournalWriter w(tmp.path(), static_cast<int64_t>(3 * rec.size()));
  std::string err;
  for (int i = 0; i < 3; ++i)
    REQUIRE_MESSAGE(w.Append(MakeAttempt(1, "a"), &err), err);
  CHECK_FALSE(w.Append(MakeAttempt(1, "a"), &err));
  const std::string path = tmp / kJournalName;
  CHECK(err == path + ": journal full (" + std::to_string(3 * rec.size()) +
                   " bytes): attempt dropped until defenderctl moves the "
                   "journal into the archive (defenderctl cleanup)");
  CHECK(FileSize(path) == static_cast<int64_t>(3 * rec.size()));
  // Once the journal is moved away there is room again.
  auto archive = AttemptArchive::Open(tmp.path(), 0, &err);
  REQUIRE_MESSAGE(archive != nullptr, err);
  IngestResult in;
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(in.records == 3);
  CHECK(w.Append(MakeAttempt(1, "a"), &err));
  CHECK(FileSize(path) == static_cast<int64_t>(rec.size()));
}

TEST_CASE("JournalWriter: after a rename it appends to the new journal") {
  TempDir tmp;
  JournalWriter w(tmp.path());
  std::string err;
  REQUIRE(w.Append(MakeAttempt(1, "before"), &err));
  const std::string path = tmp / kJournalName;
  const std::string moved = tmp / "moved";
  REQUIRE(rename(path.c_str(), moved.c_str()) == 0);
  // The ingester holds the renamed file: the writer must not wait for it.
  const int fd = open(moved.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(flock(fd, LOCK_EX) == 0);
  REQUIRE_MESSAGE(w.Append(MakeAttempt(2, "after"), &err), err);
  close(fd);
  CHECK(ReadFile(moved) == Encode(MakeAttempt(1, "before")));
  CHECK(ReadFile(path) == Encode(MakeAttempt(2, "after")));
  // Unlinked (nlink 0) and replaced by a new file: likewise.
  REQUIRE(unlink(path.c_str()) == 0);
  REQUIRE(w.Append(MakeAttempt(3, "third"), &err));
  CHECK(ReadFile(path) == Encode(MakeAttempt(3, "third")));
}

TEST_CASE("JournalWriter: refuses an untrusted directory or journal") {
  TempDir tmp;
  const std::string dir = tmp / "state";
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  REQUIRE(chmod(dir.c_str(), 0777) == 0);
  std::string err;
  {
    JournalWriter w(dir);
    CHECK_FALSE(w.Append(MakeAttempt(1, "a"), &err));
    CHECK(err.find(dir + ": untrusted store: owned by uid") == 0);
  }
  REQUIRE(chmod(dir.c_str(), 0700) == 0);
  const std::string path = dir + "/" + kJournalName;
  testing::WriteFile(path, "", 0622);
  {
    JournalWriter w(dir);
    CHECK_FALSE(w.Append(MakeAttempt(1, "a"), &err));
    CHECK(err.find(path + ": untrusted store: owned by uid") == 0);
  }
  REQUIRE(unlink(path.c_str()) == 0);
  REQUIRE(symlink("/etc/passwd", path.c_str()) == 0);
  JournalWriter w(dir);
  CHECK_FALSE(w.Append(MakeAttempt(1, "a"), &err));
  CHECK(err.find(path + ": cannot open: ") == 0);
}

int64_t ArchiveCount(AttemptArchive* archive, const char* sql) {
  SqliteDb::Statement st(archive->db(), sql);
  REQUIRE(st.Step());
  return st.Int(0);
}

TEST_CASE("AttemptArchive: ingest moves the journal, once") {
  TempDir tmp;
  std::string err;
  auto archive = AttemptArchive::Open(tmp.path(), 0, &err);
  REQUIRE_MESSAGE(archive != nullptr, err);
  IngestResult in;
  // A commit is synced before its journal file is unlinked (FULL = 2).
  CHECK(ArchiveCount(archive.get(), "PRAGMA synchronous") == 2);
  REQUIRE(archive->Ingest(&in, &err));  // No journal yet.
  CHECK(in.files == 0);
  CHECK(in.records == 0);
  {
    JournalWriter w(tmp.path());
    for (int i = 0; i < 5; ++i) {
      REQUIRE(w.Append(MakeAttempt(i, "u" + std::to_string(i)), &err));
    }
  }
  // A torn record at the end.
  const std::string path = tmp / kJournalName;
  testing::WriteFile(
      path, ReadFile(path) + Encode(MakeAttempt(9, "x")).substr(0, 10), 0600);
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(in.files == 1);
  CHECK(in.records == 5);
  CHECK(in.skipped_bytes == 10);
  CHECK_FALSE(testing::Exists(path));
  std::vector<Attempt> rows;
  REQUIRE(archive->log()->Query({}, &rows, &err));
  REQUIRE(rows.size() == 5);
  CHECK(Same(rows[0], MakeAttempt(4, "u4")));  // Newest first.
  CHECK(Same(rows[4], MakeAttempt(0, "u0")));
  REQUIRE(archive->Ingest(&in, &err));
  CHECK(in.records == 0);
  CHECK(ArchiveCount(archive.get(), "SELECT count(*) FROM attempts") == 5);
  CHECK(ArchiveCount(archive.get(), "SELECT count(*) FROM ingested") == 0);
}

// A login stopped or frozen inside its append holds the journal's shared
// lock for as long as it likes: the ingest leaves that file, claimed, and
// finishes it once the lock is free, instead of hanging defenderctl.
TEST_CASE(
    "AttemptArchive: a journal held by a stopped append is left for later") {
  TempDir tmp;
  std::string err;
  auto archive = AttemptArchive::Open(tmp.path(), 0, &err);
  REQUIRE_MESSAGE(archive != nullptr, err);
  {
    JournalWriter w(tmp.path());
    REQUIRE(w.Append(MakeAttempt(1, "held"), &err));
  }
  // The append's lock, on its own open file description.
  const int held = open((tmp / kJournalName).c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(held >= 0);
  REQUIRE(flock(held, LOCK_SH) == 0);
  IngestResult in;
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(in.busy == 1);
  CHECK(in.files == 0);
  CHECK(in.records == 0);
  CHECK_FALSE(testing::Exists(tmp / kJournalName));  // Claimed (renamed).
  CHECK(ArchiveCount(archive.get(), "SELECT count(*) FROM attempts") == 0);
  // A file an earlier ingest claimed is only tried: a command waits once
  // (kIngestLockWaitMs for the file it claims), not once per held file.
  const auto start = std::chrono::steady_clock::now();
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(std::chrono::steady_clock::now() - start <
        std::chrono::milliseconds(kIngestLockWaitMs / 2));
  CHECK(in.busy == 1);
  CHECK(in.records == 0);
  // Attempts after the claim go to a new journal.
  {
    JournalWriter w(tmp.path());
    REQUIRE(w.Append(MakeAttempt(2, "after"), &err));
  }
  REQUIRE(close(held) == 0);
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(in.busy == 0);
  CHECK(in.files == 2);
  CHECK(in.records == 2);
  std::vector<Attempt> rows;
  REQUIRE(archive->log()->Query({}, &rows, &err));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].user == "after");
  CHECK(rows[1].user == "held");
}

// Another ingest holds a file (LOCK_EX) while it moves it in: that is not a
// stopped login, and the file is not counted as held; once that ingest has
// let go without finishing it, the next ingest takes it.
TEST_CASE("AttemptArchive: a file another ingest holds is not counted") {
  TempDir tmp;
  std::string err;
  auto archive = AttemptArchive::Open(tmp.path(), 0, &err);
  REQUIRE_MESSAGE(archive != nullptr, err);
  const std::string name = tmp / "attempts.journal.0000000000000001-00000000";
  tmp.Write("attempts.journal.0000000000000001-00000000",
            Encode(MakeAttempt(1, "held")));
  {
    JournalWriter w(tmp.path());
    REQUIRE(w.Append(MakeAttempt(2, "live"), &err));
  }
  // The other ingest's lock, on its own open file description.
  const int other = open(name.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(other >= 0);
  REQUIRE(flock(other, LOCK_EX) == 0);
  IngestResult in;
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(in.busy == 0);
  CHECK(in.files == 1);  // The live journal.
  CHECK(in.records == 1);
  CHECK(testing::Exists(name));
  // Held shared, as by a stopped append: counted.
  REQUIRE(flock(other, LOCK_SH) == 0);
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(in.busy == 1);
  CHECK(in.files == 0);
  REQUIRE(close(other) == 0);
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(in.busy == 0);
  CHECK(in.files == 1);
  CHECK_FALSE(testing::Exists(name));
  std::vector<Attempt> rows;
  REQUIRE(archive->log()->Query({}, &rows, &err));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].user == "live");
  CHECK(rows[1].user == "held");
}

TEST_CASE("AttemptArchive: a crash's leftovers are finished, none twice") {
  TempDir tmp;
  std::string err;
  auto archive = AttemptArchive::Open(tmp.path(), 0, &err);
  REQUIRE_MESSAGE(archive != nullptr, err);
  const std::string done = "attempts.journal.0000000000000001-00000000";
  const std::string todo = "attempts.journal.0000000000000002-00000000";
  // `done` was committed before the crash, `todo` only renamed.
  testing::WriteFile(tmp / done, Encode(MakeAttempt(1, "done")), 0600);
  testing::WriteFile(tmp / todo, Encode(MakeAttempt(2, "todo")), 0600);
  testing::WriteFile(tmp / "attempts.journal.other",
                     Encode(MakeAttempt(3, "other")), 0600);
  testing::WriteFile(tmp / kJournalName, Encode(MakeAttempt(4, "current")),
                     0600);
  REQUIRE(archive->db()->Exec(
      ("INSERT INTO ingested VALUES ('" + done + "', 0, 1)").c_str(), &err));
  IngestResult in;
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(in.files == 2);
  CHECK(in.records == 2);
  CHECK_FALSE(testing::Exists(tmp / done));
  CHECK_FALSE(testing::Exists(tmp / todo));
  CHECK(testing::Exists(tmp / "attempts.journal.other"));  // Not ours.
  std::vector<Attempt> rows;
  REQUIRE(archive->log()->Query({}, &rows, &err));
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].user == "current");
  CHECK(rows[1].user == "todo");
  CHECK(ArchiveCount(archive.get(), "SELECT count(*) FROM ingested") == 0);
}

// The names in `dir` that begin with kJournalName, sorted.
std::vector<std::string> JournalNames(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  REQUIRE(d != nullptr);
  while (const dirent* e = readdir(d)) {
    if (std::string(e->d_name).starts_with(kJournalName)) {
      names.push_back(e->d_name);
    }
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// A claimed journal file that fails the checks (a root mistake, a restored
// backup, a planted symlink or FIFO) is renamed to <name>.bad, without
// following or opening it, and reported; the ingest goes on with the other
// files and succeeds, and later ingests no longer see it.
TEST_CASE("AttemptArchive: claimed files that fail the checks are set aside") {
  TempDir tmp;
  std::string err;
  auto archive = AttemptArchive::Open(tmp.path(), 0, &err);
  REQUIRE_MESSAGE(archive != nullptr, err);
  const std::string claimed = "attempts.journal.000000000000000";
  const std::string link = claimed + "1-00000000";
  const std::string fifo = claimed + "2-00000000";
  const std::string dir = claimed + "3-00000000";
  const std::string shared = claimed + "4-00000000";
  const std::string good = claimed + "5-00000000";
  const std::string device = claimed + "6-00000000";
  // What the symlinks lead to: a journal that must be neither read nor
  // moved (and a directory that is not ours).
  const std::string target =
      tmp.Write("elsewhere", Encode(MakeAttempt(1, "target")));
  REQUIRE(symlink(target.c_str(), (tmp / link).c_str()) == 0);
  REQUIRE(mkfifo((tmp / fifo).c_str(), 0600) == 0);
  REQUIRE(mkdir((tmp / dir).c_str(), 0700) == 0);
  tmp.Write(shared, Encode(MakeAttempt(2, "shared")), 0620);
  tmp.Write(good, Encode(MakeAttempt(3, "good")));
  const bool root = geteuid() == 0;
  if (root) {
    REQUIRE(mknod((tmp / device).c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0);
  }
  // The live journal, a symlink too: it is claimed under a new name first.
  REQUIRE(symlink(target.c_str(), (tmp / kJournalName).c_str()) == 0);
  // A writer of the FIFO, blocked in open(2) until someone opens it to read
  // (through /proc: whatever name the FIFO has by then).
  const int fifo_path = open((tmp / fifo).c_str(), O_PATH | O_CLOEXEC);
  REQUIRE(fifo_path >= 0);
  int opened[2];
  REQUIRE(pipe2(opened, O_CLOEXEC) == 0);
  const pid_t writer = fork();
  REQUIRE(writer >= 0);
  if (writer == 0) {
    const std::string proc = "/proc/self/fd/" + std::to_string(fifo_path);
    const int fd = open(proc.c_str(), O_WRONLY | O_CLOEXEC);
    _exit(fd >= 0 && write(opened[1], "o", 1) == 1 ? 0 : 1);
  }
  close(opened[1]);
  close(fifo_path);

  IngestResult in;
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(in.files == 1);
  CHECK(in.records == 1);
  const std::string uid = std::to_string(geteuid());
  const std::string not_regular = ": untrusted store: not a regular file";
  std::vector<std::string> expected = {
      tmp / link + not_regular,
      tmp / fifo + not_regular,
      tmp / dir + not_regular,
      tmp / shared + ": untrusted store: owned by uid " + uid +
          " with mode 0620 (must be owned by uid " + uid +
          " and not writable by group or others)",
  };
  if (root) expected.push_back(tmp / device + not_regular);
  const std::vector<std::string> names = JournalNames(tmp.path());
  // The live journal, claimed under a name of its own, then set aside.
  REQUIRE(names.size() == expected.size() + 1);
  const std::string live = names.back();
  CHECK(live.size() == std::string("attempts.journal.").size() + 25 + 4);
  CHECK(live.ends_with(".bad"));
  expected.push_back(tmp / live.substr(0, live.size() - 4) + not_regular);
  REQUIRE(in.set_aside.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(in.set_aside[i].reason == expected[i]);
    CHECK(in.set_aside[i].moved_to == in.set_aside[i].path + ".bad");
    CHECK(expected[i].starts_with(in.set_aside[i].path + ": "));
  }
  std::vector<std::string> left = {link + ".bad", fifo + ".bad", dir + ".bad",
                                   shared + ".bad"};
  if (root) left.push_back(device + ".bad");
  left.push_back(live);
  CHECK(names == left);
  // Moved, not followed: what the symlinks led to is as it was.
  CHECK(ReadFile(target) == Encode(MakeAttempt(1, "target")));
  char buf[64];
  CHECK(readlink((tmp / live).c_str(), buf, sizeof buf) ==
        static_cast<ssize_t>(target.size()));
  // The FIFO was never opened: its writer is still waiting.
  pollfd p{opened[0], POLLIN, 0};
  CHECK(poll(&p, 1, 200) == 0);
  kill(writer, SIGKILL);
  waitpid(writer, nullptr, 0);
  close(opened[0]);
  std::vector<Attempt> rows;
  REQUIRE(archive->log()->Query({}, &rows, &err));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].user == "good");
  // Set aside once: later ingests do not see them.
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(in.set_aside.empty());
  CHECK(in.files == 0);
  CHECK(JournalNames(tmp.path()) == left);
  CHECK(ArchiveCount(archive.get(), "SELECT count(*) FROM attempts") == 1);
}

// A <name>.bad already there is kept: the file stays claimed, reported
// again by each ingest, which still succeeds.
TEST_CASE("AttemptArchive: a set-aside name already taken is not replaced") {
  TempDir tmp;
  std::string err;
  auto archive = AttemptArchive::Open(tmp.path(), 0, &err);
  REQUIRE_MESSAGE(archive != nullptr, err);
  const std::string name = "attempts.journal.0000000000000001-00000000";
  tmp.Write(name, "x", 0666);
  tmp.Write(name + ".bad", "kept");
  for (int round = 0; round < 2; ++round) {
    IngestResult in;
    REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
    REQUIRE(in.set_aside.size() == 1);
    CHECK(in.set_aside[0].path == tmp / name);
    CHECK(in.set_aside[0].moved_to == "");
    const std::string uid = std::to_string(geteuid());
    CHECK(in.set_aside[0].reason ==
          tmp / name + ": untrusted store: owned by uid " + uid +
              " with mode 0666 (must be owned by uid " + uid +
              " and not writable by group or others); cannot set it aside "
              "as " +
              tmp / name + ".bad: File exists");
  }
  CHECK(ReadFile(tmp / (name + ".bad")) == "kept");
  CHECK(JournalNames(tmp.path()) ==
        std::vector<std::string>{name, name + ".bad"});
}

TEST_CASE("AttemptArchive: keeps the newest max_rows") {
  TempDir tmp;
  std::string err;
  auto archive = AttemptArchive::Open(tmp.path(), 5, &err);
  REQUIRE_MESSAGE(archive != nullptr, err);
  JournalWriter w(tmp.path());
  IngestResult in;
  for (int i = 0; i < 3; ++i) REQUIRE(w.Append(MakeAttempt(i, "old"), &err));
  REQUIRE(archive->Ingest(&in, &err));
  // 12 more: more than max_rows in one file, so only 5 are inserted.
  for (int i = 0; i < 12; ++i) {
    REQUIRE(w.Append(MakeAttempt(100 + i, "new"), &err));
  }
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(in.records == 5);
  CHECK(in.dropped == 7);
  CHECK(ArchiveCount(archive.get(), "SELECT count(*) FROM attempts") == 5);
  CHECK(ArchiveCount(archive.get(), "SELECT min(time) FROM attempts") == 107);
  // 2 more: the 2 oldest rows are trimmed.
  for (int i = 0; i < 2; ++i)
    REQUIRE(w.Append(MakeAttempt(200 + i, "n"), &err));
  REQUIRE(archive->Ingest(&in, &err));
  CHECK(in.trimmed == 2);
  CHECK(ArchiveCount(archive.get(), "SELECT count(*) FROM attempts") == 5);
  CHECK(ArchiveCount(archive.get(), "SELECT min(time) FROM attempts") == 109);
  // Rows beyond max_rows from elsewhere (a lower max_rows before): an
  // ingest that inserts nothing leaves them, the next one that does trims.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(archive->log()->Append(MakeAttempt(300 + i, "x"), &err));
  }
  REQUIRE(archive->Ingest(&in, &err));
  CHECK(in.trimmed == 0);
  CHECK(ArchiveCount(archive.get(), "SELECT count(*) FROM attempts") == 8);
  REQUIRE(w.Append(MakeAttempt(400, "n"), &err));
  REQUIRE(archive->Ingest(&in, &err));
  CHECK(in.records == 1);
  CHECK(in.trimmed == 4);
  CHECK(ArchiveCount(archive.get(), "SELECT count(*) FROM attempts") == 5);
  CHECK(ArchiveCount(archive.get(), "SELECT min(time) FROM attempts") == 201);
}

constexpr int kWriters = 8;

// Forks kWriters processes that each append `n` attempts with unique
// users; returns their pids. Even-numbered ones open a writer per attempt,
// as each PAM step does; odd ones keep one writer (and its descriptor)
// across the ingests, which must follow the renamed journal.
std::vector<pid_t> StartWriters(const std::string& dir, int n) {
  std::vector<pid_t> pids;
  for (int p = 0; p < kWriters; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int bad = 0;
      std::optional<JournalWriter> kept;
      for (int i = 0; i < n; ++i) {
        std::optional<JournalWriter> fresh;
        JournalWriter& w =
            p % 2 ? (kept ? *kept : kept.emplace(dir)) : fresh.emplace(dir);
        std::string err;
        const std::string user =
            "w" + std::to_string(p) + "-" + std::to_string(i);
        if (!w.Append(MakeAttempt(i, user), &err)) ++bad;
        if (i % 16 == 0) usleep(1000);  // Let ingests happen in between.
      }
      _exit(bad == 0 ? 0 : 1);
    }
    pids.push_back(pid);
  }
  return pids;
}

void WaitAll(const std::vector<pid_t>& pids) {
  for (const pid_t pid : pids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

// Ingests what is left and checks that the archive holds each of the
// kWriters * n attempts exactly once.
void CheckExact(const std::string& dir, int n) {
  std::string err;
  auto archive = AttemptArchive::Open(dir, 0, &err);
  REQUIRE_MESSAGE(archive != nullptr, err);
  IngestResult in;
  REQUIRE_MESSAGE(archive->Ingest(&in, &err), err);
  CHECK(ArchiveCount(archive.get(), "SELECT count(*) FROM attempts") ==
        kWriters * n);
  CHECK(ArchiveCount(archive.get(),
                     "SELECT count(DISTINCT user) FROM attempts") ==
        kWriters * n);
  CHECK(ArchiveCount(archive.get(), "SELECT count(*) FROM ingested") == 0);
}

// Runs Ingest in a loop until killed (or `stop` exists). With `ready`,
// returns once the first Ingest is done.
pid_t StartIngester(const std::string& dir, const std::string& stop,
                    bool ready = false) {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    std::string err;
    auto archive = AttemptArchive::Open(dir, 0, &err);
    if (!archive) _exit(2);
    IngestResult in;
    do {
      if (!archive->Ingest(&in, &err)) _exit(3);
      if (fds[1] >= 0) close(fds[1]);
      fds[1] = -1;
    } while (!testing::Exists(stop));
    _exit(0);
  }
  close(fds[1]);
  char c;
  if (ready) CHECK(read(fds[0], &c, 1) == 0);  // Closed after the first.
  close(fds[0]);
  return pid;
}

TEST_CASE(
    "journal: 8 writers and a looping ingester lose and duplicate nothing") {
  TempDir tmp;
  const std::string dir = tmp / "state";
  constexpr int kEach = 400;
  const std::string stop = tmp / "stop";
  const pid_t ingester = StartIngester(dir, stop, /*ready=*/true);
  WaitAll(StartWriters(dir, kEach));
  testing::WriteFile(stop, "", 0600);
  WaitAll({ingester});
  CheckExact(dir, kEach);
}

TEST_CASE(
    "journal: ingesters killed at random points lose and duplicate nothing") {
  TempDir tmp;
  const std::string dir = tmp / "state";
  constexpr int kEach = 400;
  const std::vector<pid_t> writers = StartWriters(dir, kEach);
  std::mt19937 rng(12345);
  int killed = 0;
  for (int round = 0; round < 40; ++round) {
    const pid_t pid = StartIngester(dir, tmp / "never");
    usleep(std::uniform_int_distribution<int>(0, 20'000)(rng));
    REQUIRE(kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status)) ++killed;
  }
  CHECK(killed == 40);
  WaitAll(writers);
  CheckExact(dir, kEach);
}

}  // namespace
}  // namespace defender
