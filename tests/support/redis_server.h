// A real redis-server (or redis-sentinel) for the tests: started on a free
// loopback port in its own temporary directory, stopped (and the directory
// removed) on destruction. Helpers talk to it with plain hiredis.
#ifndef DEFENDER_TESTS_SUPPORT_REDIS_SERVER_H_
#define DEFENDER_TESTS_SUPPORT_REDIS_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/store.h"
#include "tests/support/files.h"
#include "tests/support/process.h"

namespace defender::testing {

class RedisServer {
 public:
  // Extra config lines as command-line arguments, e.g. {"--requirepass",
  // "x"}. `sentinel` runs redis-sentinel with `sentinel_conf` instead.
  struct Options {
    std::vector<std::string> args;
    bool unix_socket = false;
    std::string sentinel_conf;  // Non-empty: a Sentinel; "%PORT%" replaced.
  };

  // Starts the server; fails the running test if it does not answer PING
  // within 10 s.
  RedisServer();
  explicit RedisServer(Options options);
  ~RedisServer();

  int port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  std::string socket_path() const { return dir() + "/redis.sock"; }
  std::string url() const {
    return "redis://127.0.0.1:" + std::to_string(port_);
  }
  pid_t pid() const { return pid_; }

  void Stop();     // SIGTERM and wait.
  void Kill();     // SIGKILL and wait.
  void Restart();  // Start again on the same port and directory.
  void Pause();    // SIGSTOP: connections are accepted, nothing answers.
  void Resume();   // SIGCONT.

  // Runs a command on a new connection (with `password` AUTH first when
  // set) and returns the reply as text: strings and status as they are,
  // integers in decimal, nil as "(nil)", errors as "ERR:...", arrays as
  // their elements joined by '\n'.
  std::string Cmd(const std::vector<std::string>& argv,
                  const std::string& password = "") const;
  // The calls count of each command in INFO commandstats, e.g.
  // {"evalsha", 2}.
  std::vector<std::pair<std::string, int64_t>> CommandStats(
      const std::string& password = "") const;
  // A field of INFO (e.g. "total_connections_received").
  int64_t InfoField(const std::string& field,
                    const std::string& password = "") const;

 private:
  void Launch();

  Options options_;
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// INFO commandstats also counts the commands that scripts run inside the
// server. These are the calls clients sent: every command except the ones
// our store script uses internally (which a client never sends) and the
// CONFIG/INFO of the measurement itself. Sorted by name.
// Written as "evalsha=2 ping=1".
std::string ClientCommands(const RedisServer& server,
                           const std::string& password = "");

// The subject's state at `now` as the Redis store on `server` (database 0,
// no password) has it, read through a RedisStore of its own.
SubjectState InRedis(const RedisServer& server, const Subject& who,
                     int64_t now);

// Milliseconds since an arbitrary start (steady clock).
int64_t NowMs();

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_REDIS_SERVER_H_
