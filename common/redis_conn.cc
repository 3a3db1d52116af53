#include "common/redis_conn.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/normalize.h"
#include "common/redis_url.h"

namespace defender {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Blocks SIGPIPE for this thread while alive. On destruction a SIGPIPE that
// became pending meanwhile is consumed, then the old mask comes back, so
// neither the signal nor a changed mask ever reaches the host process.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    const int saved_errno = errno;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_, nullptr, &zero) == -1 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    errno = saved_errno;
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

struct timeval Timeval(int ms) {
  struct timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

// Completes a non-blocking connect() within the deadline, then makes the
// socket blocking again (hiredis needs a blocking socket).
bool FinishConnect(int fd, const sockaddr* addr, socklen_t len,
                   SteadyClock::time_point deadline, std::string* err) {
  if (connect(fd, addr, len) != 0) {
    if (errno != EINPROGRESS && errno != EINTR) {
      *err = strerror(errno);
      return false;
    }
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - SteadyClock::now())
                            .count();
      if (left <= 0) {
        *err = "connect timed out";
        return false;
      }
      struct pollfd p = {fd, POLLOUT, 0};
      const int n = poll(&p, 1, static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *err = strerror(errno);
        return false;
      }
      if (n > 0) break;
    }
    int so_error = 0;
    socklen_t so_len = sizeof so_error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) != 0) {
      so_error = errno;
    }
    if (so_error != 0) {
      *err = strerror(so_error);
      return false;
    }
  }
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    *err = strerror(errno);
    return false;
  }
  return true;
}

int ConnectUnix(const std::string& path, int timeout_ms, std::string* err) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    *err = "socket path too long";
    return -1;
  }
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *err = strerror(errno);
    return -1;
  }
  const auto deadline =
      SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  if (!FinishConnect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa,
                     deadline, err)) {
    close(fd);
    return -1;
  }
  return fd;
}

int ConnectTcp(const std::string& host, int port, int timeout_ms,
               std::string* err) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    *err = gai_strerror(rc);
    return -1;
  }
  const auto deadline =
      SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      *err = strerror(errno);
      continue;
    }
    if (FinishConnect(fd, ai->ai_addr, ai->ai_addrlen, deadline, err)) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

bool IsError(const redisReply* r, const char* prefix) {
  return r != nullptr && r->type == REDIS_REPLY_ERROR &&
         strncmp(r->str, prefix, strlen(prefix)) == 0;
}

std::string ContextError(const redisContext* c, int command_timeout_ms) {
  if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return "no reply within " + std::to_string(command_timeout_ms) + " ms";
  }
  return c->errstr[0] ? c->errstr : "connection error";
}

}  // namespace

void RedisReplyDeleter::operator()(redisReply* r) const { freeReplyObject(r); }

RedisSettings RedisSettings::FromConfig(const Config& cfg) {
  RedisSettings s;
  s.url = cfg.redis_url;
  s.password_file = cfg.redis_password_file;
  s.sentinels = cfg.redis_sentinels;
  s.sentinel_master = cfg.redis_sentinel_master;
  s.connect_timeout_ms = static_cast<int>(cfg.redis_connect_timeout_ms);
  s.command_timeout_ms = static_cast<int>(cfg.redis_command_timeout_ms);
  return s;
}

RedisConnection::RedisConnection(RedisSettings settings)
    : settings_(std::move(settings)), owner_pid_(getpid()) {}

RedisConnection::~RedisConnection() { Close(); }

int RedisConnection::fd() const { return ctx_ ? ctx_->fd : -1; }

void RedisConnection::Close() {
  if (ctx_) redisFree(ctx_);  // Closes the socket; sends nothing.
  ctx_ = nullptr;
  server_.clear();
}

bool RedisConnection::ConnectTo(const std::string& host, int port,
                                const std::string& path, redisContext** out,
                                std::string* err) const {
  const std::string where =
      path.empty() ? (host.find(':') != std::string::npos
                          ? "[" + host + "]:" + std::to_string(port)
                          : host + ":" + std::to_string(port))
                   : path;
  const int fd = path.empty()
                     ? ConnectTcp(host, port, settings_.connect_timeout_ms, err)
                     : ConnectUnix(path, settings_.connect_timeout_ms, err);
  if (fd < 0) {
    *err = where + ": " + *err;
    return false;
  }
  redisContext* c = redisConnectFd(fd);  // Takes the socket.
  if (c == nullptr) {
    close(fd);
    *err = where + ": out of memory";
    return false;
  }
  if (c->err ||
      redisSetTimeout(c, Timeval(settings_.command_timeout_ms)) != REDIS_OK) {
    *err = where + ": " + ContextError(c, settings_.command_timeout_ms);
    redisFree(c);
    return false;
  }
  *out = c;
  return true;
}

bool RedisConnection::AskSentinel(const std::string& sentinel,
                                  std::string* host, int* port,
                                  std::string* err) const {
  std::string s_host;
  int s_port = 0;
  if (!ParseHostPort(sentinel, 26379, &s_host, &s_port, err)) {
    *err = "redis.sentinels: " + *err;
    return false;
  }
  redisContext* c = nullptr;
  if (!ConnectTo(s_host, s_port, "", &c, err)) {
    *err = "sentinel " + *err;
    return false;
  }
  RedisReplyPtr r;
  {
    const char* argv[] = {"SENTINEL", "get-master-addr-by-name",
                          settings_.sentinel_master.c_str()};
    const size_t lens[] = {8, 23, settings_.sentinel_master.size()};
    SigpipeGuard guard;
    r.reset(static_cast<redisReply*>(redisCommandArgv(c, 3, argv, lens)));
  }
  bool ok = false;
  if (!r) {
    *err = "sentinel " + sentinel + ": " +
           ContextError(c, settings_.command_timeout_ms);
  } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             r->element[0]->type == REDIS_REPLY_STRING &&
             r->element[1]->type == REDIS_REPLY_STRING) {
    *host = r->element[0]->str;
    *port = atoi(r->element[1]->str);
    ok = *port > 0 && *port < 65536;
    if (!ok) *err = "sentinel " + sentinel + ": bad port in reply";
  } else if (r->type == REDIS_REPLY_ERROR) {
    *err = "sentinel " + sentinel + ": " + EscapeForDisplay(r->str);
  } else {
    *err = "sentinel " + sentinel + ": does not know master \"" +
           settings_.sentinel_master + "\"";
  }
  redisFree(c);
  return ok;
}

bool RedisConnection::LogIn(const std::string& user,
                            const std::string& password, int db,
                            std::string* err) {
  if (!password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!user.empty()) auth.push_back(user);
    auth.push_back(password);
    RedisReplyPtr r = RawCommand(auth, err);
    if (!r) return false;
    if (r->type == REDIS_REPLY_ERROR) {
      *err = server_ + ": AUTH refused: " + EscapeForDisplay(r->str);
      return false;
    }
  }
  if (db != 0) {
    RedisReplyPtr r = RawCommand({"SELECT", std::to_string(db)}, err);
    if (!r) return false;
    if (r->type == REDIS_REPLY_ERROR) {
      *err = server_ + ": SELECT " + std::to_string(db) + ": " +
             EscapeForDisplay(r->str);
      return false;
    }
  }
  return true;
}

bool RedisConnection::Connect(std::string* err) {
  if (ctx_) return true;
  RedisAddress addr;
  if (!ParseRedisUrl(settings_.url, &addr, err)) {
    *err = "redis.url: " + *err;
    return false;
  }
  if (!settings_.password_file.empty() &&
      !ReadPasswordFile(settings_.password_file, &addr.password, err)) {
    return false;
  }
  if (settings_.sentinels.empty()) {
    if (!ConnectTo(addr.host, addr.port, addr.unix_socket ? addr.path : "",
                   &ctx_, err)) {
      return false;
    }
    server_ = addr.unix_socket ? addr.path
                               : addr.host + ":" + std::to_string(addr.port);
  } else {
    // A Sentinel may still name the old master for a moment after a
    // failover: when the named master cannot be reached, ask again.
    std::string last_err;
    for (int round = 0; round < 2 && !ctx_; ++round) {
      for (const std::string& sentinel : settings_.sentinels) {
        std::string host;
        int port = 0;
        if (!AskSentinel(sentinel, &host, &port, &last_err)) continue;
        if (ConnectTo(host, port, "", &ctx_, &last_err)) {
          server_ = host + ":" + std::to_string(port);
          break;
        }
        last_err = "master " + last_err;
      }
    }
    if (!ctx_) {
      *err = "no Redis master found through Sentinel: " + last_err;
      return false;
    }
  }
  if (!LogIn(addr.user, addr.password, addr.db, err)) {
    Close();
    return false;
  }
  return true;
}

RedisReplyPtr RedisConnection::RawCommand(const std::vector<std::string>& argv,
                                          std::string* err) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  RedisReplyPtr r;
  {
    SigpipeGuard guard;
    r.reset(static_cast<redisReply*>(redisCommandArgv(
        ctx_, static_cast<int>(args.size()), args.data(), lens.data())));
  }
  if (!r) {
    *err = server_ + ": " + ContextError(ctx_, settings_.command_timeout_ms);
    Close();
  }
  return r;
}

RedisReplyPtr RedisConnection::Command(const std::vector<std::string>& argv,
                                       std::string* err) {
  if (!Connect(err)) return nullptr;
  RedisReplyPtr r = RawCommand(argv, err);
  if (IsError(r.get(), "READONLY") && !settings_.sentinels.empty()) {
    // The server was demoted to a replica: nothing was written. Find the
    // new master and try once more.
    Close();
    if (!Connect(err)) return nullptr;
    r = RawCommand(argv, err);
  }
  return r;
}

}  // namespace defender
