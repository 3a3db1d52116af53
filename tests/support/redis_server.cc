#include "tests/support/redis_server.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/redis_conn.h"
#include "common/redis_store.h"

namespace defender::testing {

SubjectState InRedis(const RedisServer& server, const Subject& who,
                     int64_t now) {
  RedisSettings s;
  s.url = server.url();
  RedisConnection c(s);
  RedisStore store(&c, {});
  std::vector<SubjectState> out;
  std::string err;
  REQUIRE_MESSAGE(store.Get({&who, 1}, now, &out, &err), err);
  return out[0];
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

// True when the server on 127.0.0.1:`port` answers PING ("+PONG", or the
// NOAUTH error of a server with a password). A plain socket, so that
// starting a server loads no library into the test process
// (pam/hiredis_load_test.cc).
bool AnswersPing(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const timeval limit = {0, 200000};  // Also bounds connect().
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char buf[64];
  ssize_t n = -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0 &&
      send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
    n = recv(fd, buf, sizeof buf, 0);
  }
  close(fd);
  const std::string reply(buf, n > 0 ? static_cast<size_t>(n) : 0);
  return reply.rfind("+PONG", 0) == 0 || reply.rfind("-NOAUTH", 0) == 0;
}

}  // namespace

RedisServer::RedisServer() : RedisServer(Options()) {}

RedisServer::RedisServer(Options options) : options_(std::move(options)) {
  for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
    port_ = FreePort();
    Launch();
  }
  REQUIRE_MESSAGE(pid_ > 0, "redis-server did not start");
}

RedisServer::~RedisServer() { Stop(); }

void RedisServer::Launch() {
  std::vector<std::string> args;
  if (!options_.sentinel_conf.empty()) {
    std::string conf = options_.sentinel_conf;
    for (size_t at; (at = conf.find("%PORT%")) != std::string::npos;) {
      conf.replace(at, 6, std::to_string(port_));
    }
    const std::string path = dir() + "/sentinel.conf";
    if (!std::filesystem::exists(path)) dir_.Write("sentinel.conf", conf);
    args = {"redis-sentinel", path};
  } else {
    args = {"redis-server",
            "--port",
            std::to_string(port_),
            "--bind",
            "127.0.0.1",
            "--dir",
            dir(),
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "no"};
    if (options_.unix_socket) {
      args.insert(args.end(),
                  {"--unixsocket", socket_path(), "--unixsocketperm", "700"});
    }
  }
  args.insert(args.end(), {"--logfile", dir() + "/redis.log"});
  args.insert(args.end(), options_.args.begin(), options_.args.end());

  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  // Wait (bounded) until it answers PING.
  for (int i = 0; i < 200; ++i) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return;  // Died: port taken?
    if (AnswersPing(port_)) {
      pid_ = pid;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

void RedisServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGCONT);
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::Restart() {
  Stop();
  Launch();
  REQUIRE_MESSAGE(pid_ > 0, "redis-server did not restart");
}

void RedisServer::Pause() { kill(pid_, SIGSTOP); }
void RedisServer::Resume() { kill(pid_, SIGCONT); }

namespace {

void Flatten(const redisReply* r, std::string* out) {
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out->append(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      *out += "ERR:" + std::string(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      *out += std::to_string(r->integer);
      break;
    case REDIS_REPLY_NIL:
      *out += "(nil)";
      break;
    case REDIS_REPLY_ARRAY:
      for (size_t i = 0; i < r->elements; ++i) {
        if (i) out->push_back('\n');
        Flatten(r->element[i], out);
      }
      break;
  }
}

}  // namespace

std::string RedisServer::Cmd(const std::vector<std::string>& argv,
                             const std::string& password) const {
  // The project's own connection, through the same loader as the module.
  RedisSettings settings;
  settings.url = url();
  settings.connect_timeout_ms = 2000;
  settings.command_timeout_ms = 5000;
  RedisConnection c(settings);
  auto run = [&](const std::vector<std::string>& a) {
    std::string err;
    const RedisReplyPtr r = c.Command(a, &err);
    REQUIRE_MESSAGE(r != nullptr, err);
    std::string out;
    Flatten(r.get(), &out);
    return out;
  };
  if (!password.empty()) run({"AUTH", password});
  return run(argv);
}

std::vector<std::pair<std::string, int64_t>> RedisServer::CommandStats(
    const std::string& password) const {
  std::istringstream in(Cmd({"INFO", "commandstats"}, password));
  std::vector<std::pair<std::string, int64_t>> out;
  for (std::string line; std::getline(in, line);) {
    // cmdstat_evalsha:calls=2,usec=...
    if (line.rfind("cmdstat_", 0) != 0) continue;
    const size_t colon = line.find(':');
    const size_t calls = line.find("calls=");
    out.emplace_back(line.substr(8, colon - 8),
                     std::stoll(line.substr(calls + 6)));
  }
  return out;
}

int64_t RedisServer::InfoField(const std::string& field,
                               const std::string& password) const {
  std::istringstream in(Cmd({"INFO", "all"}, password));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::stoll(line.substr(field.size() + 1));
    }
  }
  FAIL("no field " << field << " in INFO");
  return -1;
}

std::string ClientCommands(const RedisServer& server,
                           const std::string& password) {
  static const char* const kInternal[] = {
      "hmget",   "hset",    "hget",
      "expire",  "persist", "del",
      "zcount",  "zadd",    "zremrangebyscore",
      "publish", "config",  "info",
      "zscore",  "zcard",   "zremrangebyrank",
      "zrange",  "zrem"};
  auto stats = server.CommandStats(password);
  std::sort(stats.begin(), stats.end());
  std::string out;
  for (const auto& [name, calls] : stats) {
    bool internal = false;
    for (const char* n : kInternal) internal = internal || name == n;
    internal = internal || name.rfind("config|", 0) == 0;
    if (internal) continue;
    if (!out.empty()) out += " ";
    out += name + "=" + std::to_string(calls);
  }
  return out;
}

}  // namespace defender::testing
