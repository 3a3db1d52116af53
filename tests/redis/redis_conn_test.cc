// The connection: URL forms, password_file rules, AUTH with a password and
// with a Redis 6 ACL user, unix sockets, CLOEXEC sockets, bounded waits,
// SIGPIPE, and Sentinel discovery through a real failover.
#include "common/redis_conn.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/redis_store.h"
#include "common/redis_url.h"
#include "common/remember.h"
#include "tests/support/files.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace defender::testing {
namespace {

RedisSettings Settings(const std::string& url, int timeout_ms = 2000) {
  RedisSettings s;
  s.url = url;
  s.connect_timeout_ms = timeout_ms;
  s.command_timeout_ms = timeout_ms;
  return s;
}

std::string Ping(RedisConnection& c, std::string* err) {
  RedisReplyPtr r = c.Command({"PING"}, err);
  if (!r) return "";
  return std::string(r->str, r->len);
}

const Subject kAlice{SubjectKind::kUser, "alice"};

}  // namespace

TEST_CASE("redis URLs") {
  RedisAddress a;
  std::string err;
  REQUIRE(ParseRedisUrl("redis://127.0.0.1", &a, &err));
  CHECK(a.host == "127.0.0.1");
  CHECK(a.port == 6379);
  CHECK(a.db == 0);
  CHECK(a.password.empty());
  REQUIRE(ParseRedisUrl("redis://fleet:p%40ss%3Aword@redis.example:6380/3", &a,
                        &err));
  CHECK(a.user == "fleet");
  CHECK(a.password == "p@ss:word");
  CHECK(a.host == "redis.example");
  CHECK(a.port == 6380);
  CHECK(a.db == 3);
  REQUIRE(ParseRedisUrl("redis://:secret@[::1]:7000/", &a, &err));
  CHECK(a.user.empty());
  CHECK(a.password == "secret");
  CHECK(a.host == "::1");
  CHECK(a.port == 7000);
  REQUIRE(ParseRedisUrl("unix:///run/redis/redis.sock?db=5", &a, &err));
  CHECK(a.unix_socket);
  CHECK(a.path == "/run/redis/redis.sock");
  CHECK(a.db == 5);

  for (const char* bad :
       {"http://x", "redis://", "redis://h:0", "redis://h:99999",
        "redis://h:12x", "redis://h/x", "redis://::1:6379", "unix://rel.sock",
        "unix:///s.sock?dbx=1", "redis://u:%zz@h", "redis://[::1"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseRedisUrl(bad, &a, &err));
    CHECK_FALSE(err.empty());
  }
}

TEST_CASE("password_file must be a root-owned 0600 regular file") {
  TempDir dir;
  std::string pw, err;
  const std::string good = dir.Write("pw", "s3cret\nignored\n", 0600);
  REQUIRE(ReadPasswordFile(good, &pw, &err));
  CHECK(pw == "s3cret");
  const std::string loose = dir.Write("loose", "s3cret\n", 0644);
  CHECK_FALSE(ReadPasswordFile(loose, &pw, &err));
  CHECK(err == "redis.password_file " + loose +
                   ": must not be readable or writable by group or others "
                   "(chmod 600)");
  const std::string other = dir.Write("other", "s3cret\n", 0600);
  REQUIRE(chown(other.c_str(), 1, 1) == 0);
  CHECK_FALSE(ReadPasswordFile(other, &pw, &err));
  CHECK(err.find("must be owned by root") != std::string::npos);
  REQUIRE(symlink(good.c_str(), (dir.path() + "/link").c_str()) == 0);
  CHECK_FALSE(ReadPasswordFile(dir.path() + "/link", &pw, &err));
  CHECK_FALSE(ReadPasswordFile(dir.path(), &pw, &err));
  CHECK_FALSE(ReadPasswordFile(dir.path() + "/missing", &pw, &err));
  CHECK(err.find("No such file") != std::string::npos);
}

TEST_CASE("password-protected Redis: password_file and URL password") {
  RedisServer server({{"--requirepass", "s3cret"}});
  TempDir dir;
  std::string err;
  {
    RedisConnection c(Settings(server.url()));
    CHECK(Ping(c, &err).empty() == false);  // Answers, but with NOAUTH.
    RedisStore store(&c, {});
    std::vector<SubjectState> out;
    CHECK_FALSE(store.Get({&kAlice, 1}, 1000, &out, &err));
    CHECK_MESSAGE(err.find("NOAUTH") != std::string::npos, err);
  }
  {
    RedisSettings s = Settings(server.url());
    s.password_file = dir.Write("pw", "s3cret\n");
    RedisConnection c(s);
    CHECK(Ping(c, &err) == "PONG");
  }
  {
    RedisSettings s = Settings(server.url());
    s.password_file = dir.Write("wrong", "nope\n");
    RedisConnection c(s);
    CHECK_FALSE(c.Connect(&err));
    CHECK(err.find("AUTH refused") != std::string::npos);
  }
  {
    RedisSettings s = Settings(server.url());
    s.password_file = dir.Write("open", "s3cret\n", 0644);
    RedisConnection c(s);
    CHECK_FALSE(c.Connect(&err));
    CHECK(err.find("chmod 600") != std::string::npos);
  }
  {
    // A FIFO in its place is refused at once: opening it to read must not
    // wait for a writer that never comes.
    const std::string fifo = dir.path() + "/fifo";
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    RedisSettings s = Settings(server.url());
    s.password_file = fifo;
    RedisConnection c(s);
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(c.Connect(&err));
    CHECK(err.find("not a regular file") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  }
  {
    RedisConnection c(Settings(
        "redis://:s3cret@127.0.0.1:" + std::to_string(server.port()) + "/2"));
    RedisStore store(&c, {});
    REQUIRE_MESSAGE(store.Block(kAlice, 0, 1000, &err), err);
    CHECK(server.Cmd({"SELECT", "2"}, "s3cret") == "OK");
  }
}

// The ACL rule doc/redis.md gives, read from it: "user pam on >PASSWORD
// ..." becomes redis-server's --user arguments with the password "pw".
std::vector<std::string> DocumentedAclRule() {
  FILE* f = fopen(SourcePath("doc/redis.md").c_str(), "r");
  REQUIRE(f != nullptr);
  std::vector<std::string> words;
  char line[4096];
  while (words.empty() && fgets(line, sizeof line, f) != nullptr) {
    if (std::string_view(line).starts_with("user pam on ")) {
      std::istringstream in(line);
      for (std::string w; in >> w;) words.push_back(w);
    }
  }
  fclose(f);
  REQUIRE_MESSAGE(words.size() > 4, "no \"user pam on\" line in redis.md");
  std::vector<std::string> args{"--user", "default", "off", "--user"};
  for (size_t i = 1; i < words.size(); ++i) {
    args.push_back(words[i] == ">PASSWORD" ? ">pw" : words[i]);
  }
  return args;
}

// Settings that log in to `server` as the ACL user "pam" (password "pw",
// in a password_file in `dir`).
RedisSettings AclUserSettings(const RedisServer& server, TempDir* dir) {
  RedisSettings s =
      Settings("redis://pam@127.0.0.1:" + std::to_string(server.port()));
  s.password_file = dir->Write("pw", "pw\n");
  return s;
}

TEST_CASE("Redis 6 ACL user limited to the key prefix and channel") {
  // The rule the documentation gives, word for word: the module's steps
  // with the server's clock and remembered hosts, every defenderctl
  // command, and the events channel must all work under it.
  RedisServer server({DocumentedAclRule()});
  TempDir dir;
  std::string err;
  const RedisSettings s = AclUserSettings(server, &dir);
  RedisConnection c(s);
  RedisStoreOptions o;
  o.server_clock = true;  // As the module runs: the script asks for TIME.
  RedisStore store(&c, o);
  std::vector<FailureOutcome> out;
  bool refused = false;
  const FailureRequest req{kAlice, 0};
  REQUIRE_MESSAGE(
      store.RecordFailure({&req, 1}, RefusalRule::kAny, FailureMode::kCount,
                          LockoutParams{}, 1000, &out, &refused, &err),
      err);
  CHECK(out[0].newly_blocked);
  // A success from a host remembers it for the user (a sorted set), and
  // defenderctl list --remembered and forget read and change it.
  const Subject bob{SubjectKind::kUser, "bob"};
  const Subject desk{SubjectKind::kHost, "192.0.2.10"};
  const Subject pair{SubjectKind::kPair, PairName("bob", "192.0.2.10")};
  const Subject both[] = {bob, desk, pair};
  const bool reset[] = {true, true, true};
  std::vector<SubjectState> before;
  REQUIRE_MESSAGE(store.RecordSuccess(both, reset, {}, RefusalRule::kAny, 86400,
                                      1000, &before, &refused, &err),
                  err);
  const int64_t after = time(nullptr);
  std::vector<RememberedEntry> remembered;
  REQUIRE_MESSAGE(store.ListRemembered(1001, &remembered, &err), err);
  REQUIRE(remembered.size() == 1);
  CHECK(remembered[0].user == "bob");
  CHECK(remembered[0].host == "192.0.2.10");
  // Until the end of the hour of the server's now + 1 day, not the
  // caller's (1000 + 86400): whole hours on the clock that keeps them.
  CHECK(remembered[0].until % 3600 == 0);
  CHECK(remembered[0].until > after - 5 + 86400);
  CHECK(remembered[0].until <= after + 5 + 86400 + 3600);
  int64_t forgotten = 0;
  REQUIRE_MESSAGE(store.Forget("bob", std::nullopt, 1001, &forgotten, &err),
                  err);
  CHECK(forgotten == 1);
  std::vector<StoreEntry> list;
  REQUIRE_MESSAGE(store.List(1001, true, &list, &err), err);
  CHECK(list.size() == 1);
  bool was = false;
  REQUIRE_MESSAGE(store.Unblock(kAlice, 1002, &was, &err), err);
  CHECK(was);
  REQUIRE_MESSAGE(store.Block(kAlice, 0, 1003, &err), err);
  std::vector<Subject> cleared;
  REQUIRE_MESSAGE(store.UnblockAll(1004, &cleared, &err), err);
  CHECK(cleared.size() == 1);
  int64_t removed = 0;
  REQUIRE_MESSAGE(store.Prune(1005 + 86400 * 2, 86400, &removed, &err), err);
  StoreStats stats;
  REQUIRE_MESSAGE(store.Stats(1005, 86400, &stats, &err), err);

  // defenderctl firewall watch listens on the events channel.
  {
    RedisConnection listener(s);
    RedisReplyPtr r = listener.Command({"SUBSCRIBE", "defender:events"}, &err);
    REQUIRE_MESSAGE(r != nullptr, err);
    REQUIRE(r->type == REDIS_REPLY_ARRAY);
    REQUIRE(r->elements == 3);
    CHECK(std::string(r->element[0]->str, r->element[0]->len) == "subscribe");
  }

  // The same user may not write outside its prefix.
  RedisStoreOptions other;
  other.key_prefix = "elsewhere";
  RedisStore outside(&c, other);
  CHECK_FALSE(outside.RecordFailure({&req, 1}, RefusalRule::kAny,
                                    FailureMode::kCount, LockoutParams{}, 1000,
                                    &out, &refused, &err));
  CHECK(err.find("permission") != std::string::npos);
}

// A server that refuses a command says why, in defenderctl's error.
TEST_CASE("a command the ACL refuses is reported with the server's reason") {
  std::vector<std::string> rule = DocumentedAclRule();
  std::erase(rule, "+zrangebyscore");
  RedisServer server({rule});
  TempDir dir;
  std::string err;
  const RedisSettings s = AclUserSettings(server, &dir);
  RedisConnection c(s);
  RedisStore store(&c, {});
  const Subject pair{SubjectKind::kPair, PairName("bob", "192.0.2.10")};
  const Subject subjects[] = {
      {SubjectKind::kUser, "bob"}, {SubjectKind::kHost, "192.0.2.10"}, pair};
  const bool reset[] = {true, true, true};
  std::vector<SubjectState> before;
  bool refused = false;
  REQUIRE_MESSAGE(store.RecordSuccess(subjects, reset, {}, RefusalRule::kAny,
                                      86400, 1000, &before, &refused, &err),
                  err);
  std::vector<RememberedEntry> remembered;
  CHECK_FALSE(store.ListRemembered(1001, &remembered, &err));
  CHECK(err.find("NOPERM") != std::string::npos);
  CHECK(err.find("zrangebyscore") != std::string::npos);
}

TEST_CASE("unix socket URL with a database number") {
  RedisServer server({{}, /*unix_socket=*/true});
  std::string err;
  RedisConnection c(Settings("unix://" + server.socket_path() + "?db=4"));
  RedisStore store(&c, {});
  REQUIRE_MESSAGE(store.Block(kAlice, 0, 1000, &err), err);
  CHECK(c.server() == server.socket_path());
  const int fd = c.fd();
  REQUIRE(fd >= 0);
  CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  server.Cmd({"SELECT", "4"});
  CHECK(server.Cmd({"EXISTS", store.RecordKey(kAlice)}) == "0");  // Other conn.
  redisContext* direct = redisConnectUnix(server.socket_path().c_str());
  REQUIRE((direct && !direct->err));
  freeReplyObject(redisCommand(direct, "SELECT 4"));
  auto* r = static_cast<redisReply*>(
      redisCommand(direct, "EXISTS %s", store.RecordKey(kAlice).c_str()));
  CHECK(r->integer == 1);
  freeReplyObject(r);
  redisFree(direct);
}

// The firewall watcher's subscription: a PING sent with Send() is answered
// among the messages, and a Receive() of 1 ms (what the watcher waits after
// a long sync) reads a reply already on the socket; it rounded down to no
// poll at all and timed out with the reply there.
TEST_CASE("Send in Pub/Sub mode, and a 1 ms Receive reads what has come") {
  RedisServer server;
  std::string err;
  RedisConnection c(Settings(server.url()));
  RedisReplyPtr r = c.Command({"SUBSCRIBE", "ch"}, &err);
  REQUIRE_MESSAGE(r, err);
  int read = 0;
  for (int round = 0; round < 20; ++round) {
    REQUIRE_MESSAGE(c.Send({"PING"}, &err), err);
    // Until the reply is on the socket (a fixed sleep was too short once,
    // in a sanitizer build on a busy machine).
    pollfd p{c.fd(), POLLIN, 0};
    REQUIRE(poll(&p, 1, 10000) == 1);
    bool timed_out = false;
    r = c.Receive(1, &timed_out, &err);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        std::string(r->element[0]->str, r->element[0]->len) == "pong") {
      ++read;
    } else {
      // Read it now, so that the next round starts clean.
      r = c.Receive(1000, &timed_out, &err);
    }
  }
  CHECK(read == 20);
  RedisConnection closed(Settings(server.url()));
  CHECK_FALSE(closed.Send({"PING"}, &err));
  CHECK(err == "not connected");
}

TEST_CASE("a Receive that ends in the middle of a message keeps its part") {
  // A server that sends a Pub/Sub message in two pieces, 150 ms apart (a
  // large message split by the network, or by a slow server).
  sockaddr_in sa{};
  const int lfd = BindLoopback(/*backlog=*/1, &sa);
  std::thread server([lfd] {
    const int fd = accept(lfd, nullptr, nullptr);
    const std::string first = "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhel";
    const std::string rest =
        "lo\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nbye\r\n";
    CHECK(write(fd, first.data(), first.size()) ==
          static_cast<ssize_t>(first.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    CHECK(write(fd, rest.data(), rest.size()) ==
          static_cast<ssize_t>(rest.size()));
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
  });
  std::string err;
  RedisConnection c(
      Settings("redis://127.0.0.1:" + std::to_string(ntohs(sa.sin_port))));
  REQUIRE_MESSAGE(c.Connect(&err), err);
  const auto text = [](const RedisReplyPtr& r) {
    return r && r->type == REDIS_REPLY_ARRAY && r->elements == 3
               ? std::string(r->element[2]->str, r->element[2]->len)
               : std::string("(none)");
  };
  bool timed_out = false;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  RedisReplyPtr r = c.Receive(20, &timed_out, &err);
  CHECK(r == nullptr);
  CHECK(timed_out);  // Not an error: the connection stays.
  CHECK(c.connected());
  r = c.Receive(1000, &timed_out, &err);
  CHECK(text(r) == "hello");
  r = c.Receive(1000, &timed_out, &err);
  CHECK(text(r) == "bye");
  c.Close();
  server.join();
  close(lfd);
}

TEST_CASE("a reply fed across many Receives is bounded as a whole") {
  // A hostile server sends a bulk of 8 MiB in pieces of 512 KiB, each
  // after the last Receive has given up: the bound on a reply's size
  // holds over all of them.
  sockaddr_in sa{};
  const int lfd = BindLoopback(/*backlog=*/1, &sa);
  std::thread server([lfd] {
    const int fd = accept(lfd, nullptr, nullptr);
    const std::string head = "$8388608\r\n";
    bool ok = write(fd, head.data(), head.size()) ==
              static_cast<ssize_t>(head.size());
    const std::string piece(512 << 10, 'x');
    for (int i = 0; ok && i < 16; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      ok = SendAll(fd, piece);
    }
    close(fd);
  });
  std::string err;
  RedisConnection c(
      Settings("redis://127.0.0.1:" + std::to_string(ntohs(sa.sin_port))));
  REQUIRE_MESSAGE(c.Connect(&err), err);
  int timeouts = 0;
  RedisReplyPtr r;
  for (int i = 0; i < 400; ++i) {
    bool timed_out = false;
    r = c.Receive(10, &timed_out, &err);
    if (!timed_out) break;
    ++timeouts;
  }
  CHECK(r == nullptr);
  CHECK(timeouts > 8);  // It came in pieces, each kept.
  CHECK(err.find("reply larger than 4194304 bytes") != std::string::npos);
  CHECK_FALSE(c.connected());
  server.join();
  close(lfd);
}

TEST_CASE("a connection the server closed meanwhile is opened again") {
  // A login's connection waits from preauth to authfail while the user
  // types; the server may close it meanwhile (its idle timeout, a restart,
  // CLIENT KILL). The next command opens a new one instead of failing.
  RedisServer server;
  std::string err;
  RedisConnection c(Settings(server.url()));
  RedisReplyPtr r = c.Command({"CLIENT", "ID"}, &err);
  REQUIRE_MESSAGE(r, err);
  REQUIRE(r->type == REDIS_REPLY_INTEGER);
  const std::string id = std::to_string(r->integer);
  CHECK(server.Cmd({"CLIENT", "KILL", "ID", id}) == "1");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(Ping(c, &err) == "PONG");
  CHECK(err.empty());
  r = c.Command({"CLIENT", "ID"}, &err);
  REQUIRE_MESSAGE(r, err);
  CHECK(std::to_string(r->integer) != id);  // A new connection.
  // One still open is kept.
  CHECK(Ping(c, &err) == "PONG");
  r = c.Command({"CLIENT", "ID"}, &err);
  REQUIRE_MESSAGE(r, err);
  CHECK(r->integer == c.Command({"CLIENT", "ID"}, &err)->integer);
}

TEST_CASE("a Sentinel that never answers leaves time for the next one") {
  RedisServer master;
  RedisServer::Options so;
  so.sentinel_conf =
      "port %PORT%\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 " +
      std::to_string(master.port()) + " 1\n";
  RedisServer sentinel(so);
  // Accepts connections (the kernel's backlog) and never answers: a hung
  // or stopped Sentinel.
  sockaddr_in sa{};
  const int hung = BindLoopback(/*backlog=*/8, &sa);
  RedisSettings s = Settings("redis://ignored.invalid", 200);  // 400 ms.
  s.sentinels = {"127.0.0.1:" + std::to_string(ntohs(sa.sin_port)),
                 "127.0.0.1:" + std::to_string(sentinel.port())};
  s.sentinel_master = "mymaster";
  RedisConnection c(s);
  std::string err;
  const int64_t start = NowMs();
  CHECK(Ping(c, &err) == "PONG");
  const int64_t took = NowMs() - start;
  INFO("err: ", err, ", took ", took, " ms");
  CHECK(err.empty());
  CHECK(took >= 190);  // The hung one's share: command_timeout_ms.
  CHECK(took < 400);
  CHECK(c.server() == "127.0.0.1:" + std::to_string(master.port()));
  close(hung);
}

TEST_CASE("Sentinels that answer slowly are still heard") {
  // Three Sentinels 120 ms away (another data centre, a loaded host), each
  // answering after 120 ms: the first one's answer is taken.
  RedisServer master;
  std::vector<int> listeners;
  std::vector<std::thread> slow;
  std::vector<std::string> sentinels;
  const std::string answer =
      "*2\r\n$9\r\n127.0.0.1\r\n$" +
      std::to_string(std::to_string(master.port()).size()) + "\r\n" +
      std::to_string(master.port()) + "\r\n";
  for (int i = 0; i < 3; ++i) {
    sockaddr_in sa{};
    const int lfd = BindLoopback(/*backlog=*/8, &sa);
    listeners.push_back(lfd);
    sentinels.push_back("127.0.0.1:" + std::to_string(ntohs(sa.sin_port)));
    slow.emplace_back([lfd, answer] {
      const int fd = accept(lfd, nullptr, nullptr);
      if (fd < 0) return;
      char buf[512];
      if (read(fd, buf, sizeof buf) > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(120));
        SendAll(fd, answer);
      }
      while (read(fd, buf, sizeof buf) > 0) {
      }
      close(fd);
    });
  }
  RedisSettings s = Settings("redis://ignored.invalid", 200);  // 400 ms.
  s.sentinels = sentinels;
  s.sentinel_master = "mymaster";
  std::string err;
  {
    RedisConnection c(s);
    CHECK(Ping(c, &err) == "PONG");
    INFO("err: ", err);
    CHECK(err.empty());
    CHECK(c.server() == "127.0.0.1:" + std::to_string(master.port()));
  }
  for (const int lfd : listeners) shutdown(lfd, SHUT_RDWR);
  for (std::thread& t : slow) t.join();
  for (const int lfd : listeners) close(lfd);
}

TEST_CASE("sockets are CLOEXEC and closed with the connection") {
  RedisServer server;
  std::string err;
  auto c = std::make_unique<RedisConnection>(Settings(server.url()));
  REQUIRE(c->Connect(&err));
  const int fd = c->fd();
  CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  // Non-blocking: every read and write waits in poll() for the deadline.
  CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
  c.reset();
  CHECK(fcntl(fd, F_GETFD) == -1);
}

TEST_CASE(
    "a server that does not answer costs at most connect_timeout_ms + "
    "command_timeout_ms") {
  RedisServer server;
  std::string err;
  RedisConnection c(Settings(server.url(), 150));
  REQUIRE(c.Connect(&err));
  server.Pause();
  const int64_t start = NowMs();
  CHECK(c.Command({"PING"}, &err) == nullptr);
  const int64_t took = NowMs() - start;
  server.Resume();
  CHECK(took >= 290);
  CHECK(took < 500);
  CHECK(err.find("no reply within 300 ms") != std::string::npos);
  CHECK_FALSE(c.connected());
  CHECK(Ping(c, &err) == "PONG");  // Reconnects on the next call.
}

TEST_CASE("a connect that hangs costs at most connect_timeout_ms") {
  // A listener whose accept queue is full drops new SYNs: connect() hangs.
  sockaddr_in sa{};
  const int lfd = BindLoopback(/*backlog=*/0, &sa);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    const int f =
        socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    connect(f, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    fillers.push_back(f);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::string err;
  RedisConnection c(
      Settings("redis://127.0.0.1:" + std::to_string(ntohs(sa.sin_port)), 120));
  const int64_t start = NowMs();
  CHECK_FALSE(c.Connect(&err));
  const int64_t took = NowMs() - start;
  CHECK(took >= 110);
  CHECK(took < 400);
  CHECK(err.find("connect timed out") != std::string::npos);
  for (int f : fillers) close(f);
  close(lfd);
}

TEST_CASE("SIGPIPE from a closed socket never reaches the process") {
  // Redis hangs up (on the over-long bulk) while a large command is still
  // being written on its unix socket: the next write fails with EPIPE and
  // raises SIGPIPE. The child keeps the default SIGPIPE disposition, which
  // would kill it.
  RedisServer server({{"--proto-max-bulk-len", "1mb"}, /*unix_socket=*/true});
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);
    sigset_t before;
    pthread_sigmask(SIG_SETMASK, nullptr, &before);
    RedisConnection c(Settings("unix://" + server.socket_path()));
    std::string err;
    for (int i = 0; i < 5; ++i) {
      c.Command({"SET", "k", std::string(16 << 20, 'x')}, &err);
    }
    sigset_t after, pending;
    pthread_sigmask(SIG_SETMASK, nullptr, &after);
    sigpending(&pending);
    const bool same_mask =
        sigismember(&after, SIGPIPE) == sigismember(&before, SIGPIPE);
    _exit(same_mask && !sigismember(&pending, SIGPIPE) ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK_FALSE(WIFSIGNALED(status));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("Sentinel: the master is discovered and a failover is followed") {
  // Redis 7 delays a diskless full sync by 5 s by default; the test does
  // not need to wait for that.
  RedisServer master({{"--repl-diskless-sync-delay", "0"}});
  RedisServer replica(
      {{"--replicaof", "127.0.0.1", std::to_string(master.port())}});
  const std::string conf =
      "port %PORT%\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 " +
      std::to_string(master.port()) +
      " 1\nsentinel down-after-milliseconds mymaster 400\n"
      "sentinel failover-timeout mymaster 3000\n";
  RedisServer::Options so;
  so.sentinel_conf = conf;
  RedisServer sentinel(so);

  RedisSettings s = Settings("redis://ignored.invalid", 500);
  // The first sentinel is dead: discovery goes on to the next.
  s.sentinels = {"127.0.0.1:" + std::to_string(FreePort()),
                 "127.0.0.1:" + std::to_string(sentinel.port())};
  s.sentinel_master = "mymaster";
  std::string err;
  {
    RedisConnection c(s);
    RedisStore store(&c, {});
    REQUIRE_MESSAGE(store.Block(kAlice, 0, 1000, &err), err);
    CHECK(c.server() == "127.0.0.1:" + std::to_string(master.port()));
    // Wait (bounded) until the replica has the block.
    RedisStore view(nullptr, {});
    bool copied = false;
    const int64_t sync_start = NowMs();
    while (!copied && NowMs() - sync_start < 30000) {
      copied = replica.Cmd({"EXISTS", view.RecordKey(kAlice)}) == "1";
      if (!copied) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE_MESSAGE(copied, "the replica did not copy the block within 30 s");

    master.Kill();
    const std::string want = "127.0.0.1\n" + std::to_string(replica.port());
    bool failed_over = false;
    const int64_t start = NowMs();
    while (!failed_over && NowMs() - start < 30000) {
      failed_over = sentinel.Cmd({"SENTINEL", "get-master-addr-by-name",
                                  "mymaster"}) == want;
      if (!failed_over) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    REQUIRE_MESSAGE(failed_over, "no failover within 30 s");

    // The old connection fails once, then the next call finds the new
    // master, which has the block.
    std::vector<SubjectState> st;
    if (!store.Get({&kAlice, 1}, 1001, &st, &err)) {
      REQUIRE_MESSAGE(store.Get({&kAlice, 1}, 1001, &st, &err), err);
    }
    CHECK(st[0].permanent());
    CHECK(c.server() == "127.0.0.1:" + std::to_string(replica.port()));
    // And it takes writes.
    const Subject bob{SubjectKind::kUser, "bob"};
    REQUIRE_MESSAGE(store.Block(bob, 0, 1002, &err), err);
  }
  {
    RedisConnection c(s);  // A new login after the failover.
    RedisStore store(&c, {});
    std::vector<SubjectState> st;
    REQUIRE_MESSAGE(store.Get({&kAlice, 1}, 1003, &st, &err), err);
    CHECK(st[0].permanent());
  }
  {
    RedisSettings none = s;
    none.sentinels = {"127.0.0.1:" + std::to_string(FreePort())};
    RedisConnection c(none);
    CHECK_FALSE(c.Connect(&err));
    CHECK(err.find("no Redis master found through Sentinel") !=
          std::string::npos);
  }
}

}  // namespace defender::testing
