// One connection to the Redis server of the [redis] section: found directly
// from the URL or through Sentinel, logged in (AUTH, SELECT), and safe to
// use inside a host process such as sshd:
//  - every socket is created with SOCK_CLOEXEC;
//  - time is bounded by ONE deadline, connect_timeout_ms +
//    command_timeout_ms from the start of a step (StartStep(), or else each
//    Connect() or Command() call): Sentinel queries, resolving a host name
//    (resolve.h: getaddrinfo on a thread of its own, abandoned at the
//    deadline), connecting, AUTH,
//    SELECT and every command with its whole reply end by it, whatever the
//    server sends and however slowly (a single connect() also stops after
//    connect_timeout_ms). The socket is driven with poll(), never a
//    blocking read or write;
//  - a reply is bounded too: at most kMaxReplyBytes read and
//    kMaxReplyObjects elements (hiredis already refuses arrays nested more
//    than 7 deep), so a hostile server cannot make the process allocate
//    without bound;
//  - a Sentinel may name as the master only an address or a host name of
//    [A-Za-z0-9.-] (IsValidRedisHost); anything else is an error that
//    quotes it escaped;
//  - SIGPIPE raised by a write to a closed socket is blocked for this thread
//    and consumed before the signal mask is restored, so it never reaches
//    the process (hiredis writes with plain write()).
// Not thread-safe. Remembers the process that created it: a connection must
// not be used after fork() (see owner_pid()).
#ifndef PAM_DEFENDER_COMMON_REDIS_CONN_H_
#define PAM_DEFENDER_COMMON_REDIS_CONN_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"

struct redisContext;
struct redisReply;

namespace defender {

// The [redis] keys that say where and how to connect.
struct RedisSettings {
  std::string url;
  std::string password_file;
  std::vector<std::string> sentinels;
  std::string sentinel_master;
  int connect_timeout_ms = 200;
  int command_timeout_ms = 200;

  static RedisSettings FromConfig(const Config& cfg);
  bool operator==(const RedisSettings&) const = default;
};

struct RedisReplyDeleter {
  void operator()(redisReply* r) const;
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

// Limits on one reply (see above).
inline constexpr size_t kMaxReplyBytes = 4 << 20;
inline constexpr size_t kMaxReplyObjects = 1 << 17;

// The text of error reply `r` for a message or a log line: escaped
// (EscapeForDisplay) and cut after kMaxErrorTextBytes, saying how long it
// was (a hostile server's 4 MiB error is not a 12 MB syslog line).
inline constexpr size_t kMaxErrorTextBytes = 256;
std::string ErrorText(const redisReply& r);

class RedisConnection {
 public:
  explicit RedisConnection(RedisSettings settings);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  const RedisSettings& settings() const { return settings_; }
  // The process that created this object. Another process (a child after
  // fork) must not use it.
  pid_t owner_pid() const { return owner_pid_; }
  bool connected() const { return ctx_ != nullptr; }
  // The socket, or -1 when not connected. For tests.
  int fd() const;
  // "host:port" or the socket path of the server in use (empty if none).
  const std::string& server() const { return server_; }

  // Connects unless connected: loads libhiredis the first time
  // (hiredis_api.h), asks the Sentinels (each in turn, twice) for the master
  // when `sentinels` is set, reads password_file, sends AUTH and SELECT when
  // needed. Returns false with *err set on failure.
  bool Connect(std::string* err);

  // Connects if needed and runs one command. Returns the reply, which may be
  // a Redis error reply (REDIS_REPLY_ERROR). On an I/O error or timeout
  // returns nullptr with *err set and closes the connection, so that the
  // next call connects again. A READONLY error from a demoted master (after
  // a Sentinel failover) reconnects through the Sentinels and retries once.
  RedisReplyPtr Command(const std::vector<std::string>& argv, std::string* err);

  // Sends one command on the open connection without reading its reply,
  // for a connection in Pub/Sub mode, whose replies Receive() reads among
  // the messages (PING). False with *err set when not connected or on an
  // I/O error or timeout, which closes the connection.
  bool Send(const std::vector<std::string>& argv, std::string* err);

  // Waits up to `timeout_ms` for the next reply without sending anything:
  // a message pushed to a connection in Pub/Sub mode (after SUBSCRIBE sent
  // with Command()). Returns it, within the same bounds as a command's
  // reply. When no whole reply arrived in time returns nullptr with
  // *timed_out set and the connection still open: the part of a reply that
  // came is kept, and the next Receive() goes on from there (a Command()
  // before that reconnects). On any other error returns nullptr with *err
  // set and closes the connection.
  RedisReplyPtr Receive(int timeout_ms, bool* timed_out, std::string* err);

  void Close();

  // Starts a step (one PAM call): every call until EndStep() or the next
  // StartStep() shares one deadline, connect_timeout_ms +
  // command_timeout_ms from now. Outside a step each Connect() and
  // Command() call has that budget of its own.
  void StartStep();
  void EndStep() { in_step_ = false; }
  bool in_step() const { return in_step_; }

  // Starts a step for its lifetime unless one is running (a store call
  // made of several commands, such as EVALSHA and the EVAL that follows
  // NOSCRIPT, then shares one deadline).
  class Step {
   public:
    explicit Step(RedisConnection* conn)
        : conn_(conn->in_step() ? nullptr : conn) {
      if (conn_) conn_->StartStep();
    }
    ~Step() {
      if (conn_) conn_->EndStep();
    }
    Step(const Step&) = delete;
    Step& operator=(const Step&) = delete;

   private:
    RedisConnection* conn_;
  };

 private:
  using TimePoint = std::chrono::steady_clock::time_point;

  // The deadline of this call: the step's, or a new one outside a step.
  void ArmUnlessInStep();
  int budget_ms() const;
  bool DoConnect(std::string* err);
  // Connects within connect_timeout_ms, the step's deadline and `until`.
  bool ConnectTo(const std::string& host, int port, const std::string& path,
                 redisContext** out, std::string* err,
                 TimePoint until = TimePoint::max()) const;
  bool AskSentinel(const std::string& sentinel, std::string* host, int* port,
                   std::string* err) const;
  bool LogIn(const std::string& user, const std::string& password, int db,
             std::string* err);
  RedisReplyPtr RawCommand(const std::vector<std::string>& argv,
                           std::string* err);

  RedisSettings settings_;
  pid_t owner_pid_;
  redisContext* ctx_ = nullptr;
  // Bytes of a reply that Receive() began and has not finished (ReadReply).
  size_t partial_bytes_ = 0;
  std::string server_;
  bool in_step_ = false;
  TimePoint deadline_{};
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_REDIS_CONN_H_
