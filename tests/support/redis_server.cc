#include "tests/support/redis_server.h"

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
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, {0, 200000});
    if (c && !c->err) {
      auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
      const bool ok =
          r && (r->type == REDIS_REPLY_STATUS ||
                (r->type == REDIS_REPLY_ERROR && strstr(r->str, "NOAUTH")));
      if (r) freeReplyObject(r);
      redisFree(c);
      if (ok) {
        pid_ = pid;
        return;
      }
    } else if (c) {
      redisFree(c);
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
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, {2, 0});
  REQUIRE((c && !c->err));
  redisSetTimeout(c, {5, 0});
  auto run = [&](const std::vector<std::string>& a) {
    std::vector<const char*> args;
    std::vector<size_t> lens;
    for (const std::string& s : a) {
      args.push_back(s.data());
      lens.push_back(s.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(
        c, static_cast<int>(args.size()), args.data(), lens.data()));
    REQUIRE(r != nullptr);
    std::string out;
    Flatten(r, &out);
    freeReplyObject(r);
    return out;
  };
  if (!password.empty()) run({"AUTH", password});
  std::string out = run(argv);
  redisFree(c);
  return out;
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
