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

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <new>

#include "common/hiredis_api.h"
#include "common/lazy_libc.h"
#include "common/normalize.h"
#include "common/redis_url.h"
#include "common/resolve.h"

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
    lazy::sigpending(&pending);
    was_pending_ = lazy::sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    const int saved_errno = errno;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      if (lazy::sigpending(&pending) == 0 &&
          lazy::sigismember(&pending, SIGPIPE) == 1) {
        const struct timespec zero = {0, 0};
        while (lazy::sigtimedwait(&pipe_, nullptr, &zero) == -1 &&
               errno == EINTR) {
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

using TimePoint = SteadyClock::time_point;

// Milliseconds left until `deadline`, rounded up (0 only when it has
// passed): a wait of a few microseconds still polls, so that what is
// already on the socket is read (a 1 ms Receive() rounded down to no poll
// at all, and never saw the reply waiting there).
int MsLeft(TimePoint deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
                        deadline - SteadyClock::now())
                        .count();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<int64_t>((left + 999) / 1000, 1 << 30));
}

// Waits until `fd` is ready for `events` or `deadline` passes. Returns 1
// when ready, 0 on timeout, -1 with errno on error.
int WaitReady(int fd, short events, TimePoint deadline) {
  for (;;) {
    const int left = MsLeft(deadline);
    if (left == 0) return 0;
    struct pollfd p = {fd, events, 0};
    const int n = lazy::poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n;
    return 1;
  }
}

// Completes a non-blocking connect() by `deadline`. The socket stays
// non-blocking: every later read and write is driven by poll().
bool FinishConnect(int fd, const sockaddr* addr, socklen_t len,
                   TimePoint deadline, std::string* err) {
  if (lazy::connect(fd, addr, len) == 0) return true;
  if (errno != EINPROGRESS && errno != EINTR) {
    *err = lazy::strerror(errno);
    return false;
  }
  const int ready = WaitReady(fd, POLLOUT, deadline);
  if (ready <= 0) {
    *err = ready == 0 ? "connect timed out" : lazy::strerror(errno);
    return false;
  }
  int so_error = 0;
  socklen_t so_len = sizeof so_error;
  if (lazy::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) != 0) {
    so_error = errno;
  }
  if (so_error != 0) {
    *err = lazy::strerror(so_error);
    return false;
  }
  return true;
}

int ConnectUnix(const std::string& path, TimePoint deadline, std::string* err) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    *err = "socket path too long";
    return -1;
  }
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int fd =
      lazy::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *err = lazy::strerror(errno);
    return -1;
  }
  if (!FinishConnect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa,
                     deadline, err)) {
    close(fd);
    return -1;
  }
  return fd;
}

int ConnectTcp(const std::string& host, int port, TimePoint deadline,
               std::string* err) {
  AddrInfoPtr res;
  if (!ResolveTcp(host, port, deadline, &res, err)) return -1;
  int fd = -1;
  for (addrinfo* ai = res.get(); ai != nullptr; ai = ai->ai_next) {
    fd = lazy::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                      0);
    if (fd < 0) {
      *err = lazy::strerror(errno);
      continue;
    }
    if (FinishConnect(fd, ai->ai_addr, ai->ai_addrlen, deadline, err)) break;
    close(fd);
    fd = -1;
  }
  if (fd >= 0) {
    const int one = 1;
    lazy::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

}  // namespace

std::string ErrorText(const redisReply& r) {
  const size_t len = r.str == nullptr ? 0 : r.len;
  std::string text = EscapeForDisplay(
      std::string_view(r.str, std::min(len, kMaxErrorTextBytes)));
  if (len > kMaxErrorTextBytes) {
    text += "... (" + std::to_string(len) + " bytes)";
  }
  return text;
}

namespace {

bool IsError(const redisReply* r, const char* prefix) {
  return r != nullptr && r->type == REDIS_REPLY_ERROR &&
         std::string_view(r->str, r->len).starts_with(prefix);
}

// Reply objects the reader may still build for the reply being read: a
// counter per context, at c->reader->privdata (set by PrepareContext,
// freed by FreeContext), which hiredis copies into every read task it
// creates, so the callbacks below find it through their task. (A
// thread-local counter would give the module a TLS segment, which costs
// every login's dlopen more than the module's Redis code does.)
const redisReplyObjectFunctions* g_default_functions = nullptr;

bool TakeObject(const redisReadTask* t) {
  size_t* left = static_cast<size_t*>(t->privdata);
  if (*left == 0) return false;
  --*left;
  return true;
}

void* LimitedString(const redisReadTask* t, char* s, size_t len) {
  return TakeObject(t) ? g_default_functions->createString(t, s, len) : nullptr;
}
void* LimitedArray(const redisReadTask* t, int n) {
  if (n < 0 || static_cast<size_t>(n) >= kMaxReplyObjects || !TakeObject(t)) {
    *static_cast<size_t*>(t->privdata) = 0;
    return nullptr;
  }
  return g_default_functions->createArray(t, n);
}
void* LimitedInteger(const redisReadTask* t, long long v) {
  return TakeObject(t) ? g_default_functions->createInteger(t, v) : nullptr;
}
void* LimitedNil(const redisReadTask* t) {
  return TakeObject(t) ? g_default_functions->createNil(t) : nullptr;
}
void FreeObject(void* r) { g_default_functions->freeObject(r); }

redisReplyObjectFunctions g_limited_functions = {
    LimitedString, LimitedArray, LimitedInteger, LimitedNil, FreeObject};

// Makes `c` (from redisConnectFd) one that RunCommand drives: non-blocking,
// with the reply limits. False when out of memory (then free `c` with
// FreeContext).
bool PrepareContext(redisContext* c) {
  size_t* left = new (std::nothrow) size_t(kMaxReplyObjects);
  if (left == nullptr) return false;
  static const redisReplyObjectFunctions* const defaults = c->reader->fn;
  g_default_functions = defaults;
  c->reader->privdata = left;
  c->reader->fn = &g_limited_functions;
  c->flags &= ~REDIS_BLOCK;  // redisBufferWrite: EAGAIN is "try again".
  return true;
}

// Frees `c`, prepared or not; closes its socket, sends nothing.
void FreeContext(redisContext* c) {
  if (c == nullptr) return;
  delete static_cast<size_t*>(c->reader->privdata);
  c->reader->privdata = nullptr;
  Hiredis().redisFree(c);
}

// Reads the next whole reply on `c` by `deadline` (what is already
// buffered first). Returns it, or nullptr with *err set and *timed_out
// telling whether only the deadline passed (with nothing of a reply read,
// `c` is then still usable); on any other error `c` is unusable.
// `partial`, when given, carries the bytes of a reply begun but not
// finished from one call to the next: a deadline that passes in the middle
// of a reply is then only a timeout (the reader keeps what it has, and the
// next call goes on from there, with the same bounds on the whole reply).
// Without it such a reply makes `c` unusable (a command's caller would
// read the rest as the next command's reply).
redisReply* ReadReply(redisContext* c, TimePoint deadline,
                      const std::string& timeout, bool* timed_out,
                      std::string* err, size_t* partial = nullptr) {
  *timed_out = false;
  const HiredisApi& h = Hiredis();
  size_t& objects_left = *static_cast<size_t*>(c->reader->privdata);
  size_t bytes = partial ? *partial : 0;
  if (bytes == 0) objects_left = kMaxReplyObjects;
  for (;;) {
    void* reply = nullptr;
    const int rc = h.redisReaderGetReply(c->reader, &reply);
    if (rc != REDIS_OK) {
      *err = objects_left == 0 ? "reply has too many elements"
                               : std::string("bad reply: ") + c->reader->errstr;
      return nullptr;
    }
    if (reply != nullptr) {
      if (partial) *partial = 0;
      return static_cast<redisReply*>(reply);
    }
    const int ready = WaitReady(c->fd, POLLIN, deadline);
    if (ready <= 0) {
      *timed_out = ready == 0 && (bytes == 0 || partial != nullptr);
      if (partial) *partial = bytes;
      *err = ready == 0 ? timeout : lazy::strerror(errno);
      return nullptr;
    }
    char buf[16384];
    const ssize_t n = read(c->fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      *err = n == 0 ? "server closed the connection" : lazy::strerror(errno);
      return nullptr;
    }
    bytes += static_cast<size_t>(n);
    if (bytes > kMaxReplyBytes) {
      *err = "reply larger than " + std::to_string(kMaxReplyBytes) + " bytes";
      return nullptr;
    }
    if (h.redisReaderFeed(c->reader, buf, static_cast<size_t>(n)) != REDIS_OK) {
      *err = "out of memory";
      return nullptr;
    }
  }
}

// Sends one command on `c` by `deadline` (`timeout`: the message if it
// passes). False with *err set on failure; `c` is then unusable.
bool WriteCommand(redisContext* c, const std::vector<const char*>& argv,
                  const std::vector<size_t>& lens, TimePoint deadline,
                  const std::string& timeout, std::string* err) {
  const HiredisApi& h = Hiredis();
  if (h.redisAppendCommandArgv(c, static_cast<int>(argv.size()),
                               const_cast<const char**>(argv.data()),
                               lens.data()) != REDIS_OK) {
    *err = c->errstr[0] ? c->errstr : "out of memory";
    return false;
  }
  SigpipeGuard guard;
  int done = 0;
  while (!done) {
    const int ready = WaitReady(c->fd, POLLOUT, deadline);
    if (ready <= 0) {
      *err = ready == 0 ? timeout : lazy::strerror(errno);
      return false;
    }
    if (h.redisBufferWrite(c, &done) != REDIS_OK) {
      *err = c->errstr[0] ? c->errstr : "write error";
      return false;
    }
  }
  return true;
}

// Sends one command on `c` and reads its whole reply by `deadline`.
// Returns the reply (which may be an error reply), or nullptr with *err
// set; `c` is then unusable.
redisReply* RunCommand(redisContext* c, const std::vector<const char*>& argv,
                       const std::vector<size_t>& lens, TimePoint deadline,
                       int budget_ms, std::string* err) {
  const std::string timeout =
      "no reply within " + std::to_string(budget_ms) + " ms";
  if (!WriteCommand(c, argv, lens, deadline, timeout, err)) return nullptr;
  bool timed_out = false;
  return ReadReply(c, deadline, timeout, &timed_out, err);
}

}  // namespace

void RedisReplyDeleter::operator()(redisReply* r) const {
  Hiredis().freeReplyObject(r);
}

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
    : settings_(std::move(settings)), owner_pid_(lazy::getpid()) {}

RedisConnection::~RedisConnection() { Close(); }

int RedisConnection::fd() const { return ctx_ ? ctx_->fd : -1; }

void RedisConnection::Close() {
  FreeContext(ctx_);
  ctx_ = nullptr;
  partial_bytes_ = 0;
  server_.clear();
}

void RedisConnection::StartStep() {
  in_step_ = true;
  deadline_ = SteadyClock::now() + std::chrono::milliseconds(budget_ms());
}

void RedisConnection::ArmUnlessInStep() {
  if (!in_step_) {
    deadline_ = SteadyClock::now() + std::chrono::milliseconds(budget_ms());
  }
}

int RedisConnection::budget_ms() const {
  return settings_.connect_timeout_ms + settings_.command_timeout_ms;
}

bool RedisConnection::ConnectTo(const std::string& host, int port,
                                const std::string& path, redisContext** out,
                                std::string* err, TimePoint until) const {
  const std::string where =
      path.empty() ? (host.find(':') != std::string::npos
                          ? "[" + host + "]:" + std::to_string(port)
                          : host + ":" + std::to_string(port))
                   : path;
  const TimePoint deadline =
      std::min(std::min(deadline_, until),
               SteadyClock::now() +
                   std::chrono::milliseconds(settings_.connect_timeout_ms));
  const int fd = path.empty() ? ConnectTcp(host, port, deadline, err)
                              : ConnectUnix(path, deadline, err);
  if (fd < 0) {
    *err = where + ": " + *err;
    return false;
  }
  const HiredisApi& h = Hiredis();
  redisContext* c = h.redisConnectFd(fd);  // Takes the socket.
  if (c == nullptr) {
    close(fd);
    *err = where + ": out of memory";
    return false;
  }
  if (c->err || !PrepareContext(c)) {
    *err = where + ": " + (c->err ? c->errstr : "out of memory");
    FreeContext(c);
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
  // With more than one Sentinel, each is given at most its share of the
  // step's time, but never less than command_timeout_ms (a Sentinel that
  // answers slowly, far away or loaded, must still be heard): one that
  // accepts connections and never answers (hung, stopped) then leaves the
  // next ones and the master the rest. A single Sentinel has it all.
  const int n = static_cast<int>(settings_.sentinels.size());
  const int share_ms =
      n <= 1 ? budget_ms()
             : std::max<int>({1, budget_ms() / (n + 1),
                              static_cast<int>(settings_.command_timeout_ms)});
  const TimePoint until = std::min(
      deadline_, SteadyClock::now() + std::chrono::milliseconds(share_ms));
  redisContext* c = nullptr;
  if (!ConnectTo(s_host, s_port, "", &c, err, until)) {
    *err = "sentinel " + *err;
    return false;
  }
  std::string io_err;
  RedisReplyPtr r(RunCommand(c,
                             {"SENTINEL", "get-master-addr-by-name",
                              settings_.sentinel_master.c_str()},
                             {8, 23, settings_.sentinel_master.size()}, until,
                             share_ms, &io_err));
  bool ok = false;
  if (!r) {
    *err = "sentinel " + sentinel + ": " + io_err;
  } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             r->element[0]->type == REDIS_REPLY_STRING &&
             r->element[1]->type == REDIS_REPLY_STRING) {
    // The master's host is resolved (a name within the step's deadline,
    // resolve.h) and shown in messages: only an address or a plain host
    // name is accepted.
    const std::string_view named(r->element[0]->str, r->element[0]->len);
    const std::string_view port_text(r->element[1]->str, r->element[1]->len);
    *port = 0;  // Not a number: refused below, as port 0.
    std::from_chars(port_text.data(), port_text.data() + port_text.size(),
                    *port);
    if (!IsValidRedisHost(named)) {
      *err = "sentinel " + sentinel + ": bad master host in reply: \"" +
             EscapeText(named, 80) + "\"";
    } else if (*port <= 0 || *port >= 65536) {
      *err = "sentinel " + sentinel + ": bad port in reply";
    } else {
      *host = std::string(named);
      ok = true;
    }
  } else if (r->type == REDIS_REPLY_ERROR) {
    *err = "sentinel " + sentinel + ": " + ErrorText(*r);
  } else {
    *err = "sentinel " + sentinel + ": does not know master \"" +
           settings_.sentinel_master + "\"";
  }
  FreeContext(c);
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
      *err = server_ + ": AUTH refused: " + ErrorText(*r);
      return false;
    }
  }
  if (db != 0) {
    RedisReplyPtr r = RawCommand({"SELECT", std::to_string(db)}, err);
    if (!r) return false;
    if (r->type == REDIS_REPLY_ERROR) {
      *err = server_ + ": SELECT " + std::to_string(db) + ": " + ErrorText(*r);
      return false;
    }
  }
  return true;
}

bool RedisConnection::Connect(std::string* err) {
  ArmUnlessInStep();
  return DoConnect(err);
}

bool RedisConnection::DoConnect(std::string* err) {
  if (ctx_) {
    // A connection kept from an earlier step (a login's preauth, before the
    // password prompt) that the server has closed meanwhile (its idle
    // `timeout`, a restart, a NAT forgetting it), that holds bytes nobody
    // asked for, or the part of a reply that Receive() began (its rest
    // would pass for the next command's reply): opened again, rather than
    // failing this step to on_error. An idle connection has nothing to
    // read.
    struct pollfd p = {ctx_->fd, POLLIN | POLLRDHUP, 0};
    const bool pending =
        partial_bytes_ != 0 || ctx_->reader->pos < ctx_->reader->len;
    if (!pending && lazy::poll(&p, 1, 0) == 0) return true;
    Close();
  }
  if (LoadHiredis(err) == nullptr) return false;
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
        if (MsLeft(deadline_) == 0) {
          if (last_err.empty()) {
            last_err =
                "no answer within " + std::to_string(budget_ms()) + " ms";
          }
          break;
        }
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

namespace {

// The pointers and lengths of `argv`'s strings, as hiredis takes them.
void Arguments(const std::vector<std::string>& argv,
               std::vector<const char*>* args, std::vector<size_t>* lens) {
  for (const std::string& a : argv) {
    args->push_back(a.data());
    lens->push_back(a.size());
  }
}

}  // namespace

RedisReplyPtr RedisConnection::RawCommand(const std::vector<std::string>& argv,
                                          std::string* err) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  Arguments(argv, &args, &lens);
  std::string io_err;
  RedisReplyPtr r(
      RunCommand(ctx_, args, lens, deadline_, budget_ms(), &io_err));
  if (!r) {
    *err = server_ + ": " + io_err;
    Close();
  }
  return r;
}

RedisReplyPtr RedisConnection::Command(const std::vector<std::string>& argv,
                                       std::string* err) {
  ArmUnlessInStep();
  if (!DoConnect(err)) return nullptr;
  RedisReplyPtr r = RawCommand(argv, err);
  if (IsError(r.get(), "READONLY") && !settings_.sentinels.empty()) {
    // The server was demoted to a replica: nothing was written. Find the
    // new master and try once more (within the same deadline).
    Close();
    if (!DoConnect(err)) return nullptr;
    r = RawCommand(argv, err);
  }
  return r;
}

bool RedisConnection::Send(const std::vector<std::string>& argv,
                           std::string* err) {
  if (!ctx_) {
    *err = "not connected";
    return false;
  }
  ArmUnlessInStep();
  std::vector<const char*> args;
  std::vector<size_t> lens;
  Arguments(argv, &args, &lens);
  std::string io_err;
  if (!WriteCommand(ctx_, args, lens, deadline_,
                    "cannot send within " + std::to_string(budget_ms()) + " ms",
                    &io_err)) {
    *err = server_ + ": " + io_err;
    Close();
    return false;
  }
  return true;
}

RedisReplyPtr RedisConnection::Receive(int timeout_ms, bool* timed_out,
                                       std::string* err) {
  *timed_out = false;
  if (!ctx_) {
    *err = "not connected";
    return nullptr;
  }
  const TimePoint deadline =
      SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  std::string io_err;
  RedisReplyPtr r(ReadReply(ctx_, deadline, "nothing received", timed_out,
                            &io_err, &partial_bytes_));
  if (!r && !*timed_out) {
    *err = server_ + ": " + io_err;
    Close();
  }
  return r;
}

}  // namespace defender
