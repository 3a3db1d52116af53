#include "defenderctl/firewall_watch.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <set>
#include <vector>

#include "common/normalize.h"
#include "common/redis_conn.h"
#include "defenderctl/cli_clock.h"
#include "defenderctl/command.h"
#include "defenderctl/firewall_event.h"
#include "defenderctl/firewall_guard.h"
#include "defenderctl/firewall_needed.h"

namespace defender::ctl {
namespace {

using Steady = std::chrono::steady_clock;

// Reconnecting waits this long, then twice as long each time, up to 30 s.
constexpr int kFirstBackoffMs = 250;

// A subscribed connection sends a PING this often (or every
// resync_seconds, when that is shorter), and is given up when nothing at
// all has been read on it by the next one: a connection that died without
// a word (the server's machine gone, a NAT or firewall forgetting it) would
// otherwise be waited on for ever, and every event lost. Any reply counts
// as a sign of life, not only the pong: under a flood of events the pong
// waits behind them, each costing a sync of its host.
constexpr auto kMaxPingPeriod = std::chrono::seconds(15);

// At most this many replies are read for one batch of events, which are
// applied together (one listing of the sets, one transaction); more wait
// for the next batch.
constexpr size_t kMaxBatch = 512;

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_resync = 0;

void OnStop(int) { g_stop = 1; }
// SIGHUP (systemctl reload): a full sync now, with this machine's addresses
// read again. The configuration stays the one read at start.
void OnHangup(int) { g_resync = 1; }

void Log(const std::string& line) {
  std::fprintf(stderr, "defenderctl: firewall: %s\n",
               EscapeForDisplay(line).c_str());
  std::fflush(stderr);
}

void LogChanges(const SyncChanges& c) {
  std::string text = DescribeChanges(c);
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    Log(text.substr(start, nl - start));
    start = nl + 1;
  }
}

// Sleeps `ms` or until a stop signal or SIGHUP.
void Pause(int ms) {
  while (ms > 0 && !g_stop && !g_resync) {
    poll(nullptr, 0, std::min(ms, 200));
    ms -= 200;
  }
}

// Logs ignored events: at most kBurst lines per re-sync period, then one
// line with how many more were ignored, so that a flood of forged messages
// cannot flood the log.
class IgnoredLog {
 public:
  static constexpr int kBurst = 10;
  void Ignored(const std::string& what) {
    if (logged_++ < kBurst) {
      Log("ignored event: " + what);
    } else {
      ++suppressed_;
    }
  }
  void EndPeriod() {
    if (suppressed_ > 0) {
      Log(std::to_string(suppressed_) + " more event(s) ignored");
    }
    logged_ = 0;
    suppressed_ = 0;
  }

 private:
  int logged_ = 0;
  int64_t suppressed_ = 0;
};

class Watcher {
 public:
  Watcher(Context* ctx, const SyncTarget& t) : ctx_(ctx), t_(t) {}

  int Run() {
    struct sigaction sa {};
    sa.sa_handler = OnStop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    sa.sa_handler = OnHangup;
    sigaction(SIGHUP, &sa, nullptr);
    const Config& cfg = ctx_->config();
    Log(std::string("watching ") +
        (cfg.backend == StoreBackend::kRedis
             ? "Redis channel " + cfg.key_prefix + ":events"
             : "the local store") +
        ", table inet " + cfg.firewall_table);
    if (cfg.backend == StoreBackend::kRedis) {
      WatchRedis();
    } else {
      while (!g_stop) {
        Sync();
        Pause(static_cast<int>(cfg.firewall_resync_seconds * 1000));
      }
    }
    Log("stopped");
    return kExitOk;
  }

 private:
  // The guard of the next syncs: this machine's addresses and those it
  // needs, read again at each full sync (a DHCP lease, a moved VIP, a new
  // resolver), and the Redis server the subscription reached (the master a
  // Sentinel names is known only then).
  void RefreshGuard() {
    std::vector<IpAddress> needed = NeededAddresses(ctx_->config());
    needed.insert(needed.end(), server_.begin(), server_.end());
    guard_.emplace(ctx_->config(), LocalAddresses(),
                   FirewallAllowsLocalForTests(), std::move(needed));
    t_.guard = &*guard_;
  }

  // Re-syncs everything; false (logged) when the store or nftables failed.
  bool Sync() {
    if (g_resync) {
      g_resync = 0;
      Log("SIGHUP: syncing now");
    }
    RefreshGuard();
    SyncChanges c;
    std::string err;
    // A store connection broken meanwhile (Redis restarted) is closed by
    // the failed call and opened again by the next: try twice.
    if (!SyncAll(t_, ctx_->Now(), &c, &err) &&
        !SyncAll(t_, ctx_->Now(), &(c = SyncChanges()), &err)) {
      // Said once while it keeps failing the same way (a retry a second).
      if (err != sync_error_) Log("sync failed: " + err + " (retrying)");
      sync_error_ = err;
      return false;
    }
    if (!sync_error_.empty()) Log("sync works again");
    sync_error_.clear();
    // The period of the rate limit ends with a sync that worked: while
    // syncs fail (one a second), ignored events stay counted, not logged.
    ignored_.EndPeriod();
    present_ = c.elements;
    // Said once, not at every re-sync.
    if (c.off == reported_off_)
      c.off.clear();
    else
      reported_off_ = c.off;
    KeepNewRefusals(&c, &reported_);
    LogChanges(c);
    return true;
  }

  // Applies the events of `messages` together (SyncHosts: one listing of
  // the sets for them all).
  void Hints(const std::vector<std::string>& messages) {
    std::vector<std::string> subjects;
    std::set<std::string> blocks;  // Subjects of block events.
    for (const std::string& message : messages) {
      std::string subject;
      std::string why;
      bool block = false;
      const EventHint hint = ParseEventHint(message, &subject, &block, &why);
      if (hint == EventHint::kMalformed) {
        ignored_.Ignored("malformed (" + why + ")");
        continue;
      }
      if (hint == EventHint::kOther) continue;
      if (block) blocks.insert(subject);
      subjects.push_back(std::move(subject));
    }
    if (subjects.empty()) return;
    SyncChanges c;
    std::string err;
    if (!SyncHosts(t_, subjects, ctx_->Now(), &present_, &c, &err)) {
      // Rate-limited: whoever can PUBLISH picks how many events come.
      for (const std::string& subject : subjects) {
        ignored_.Ignored("host " + subject + ": cannot apply it: " + err);
      }
      return;
    }
    for (const auto& [subject, why] : c.refused) {
      ignored_.Ignored("host " + subject + ": " + why);
    }
    for (const auto& [subject, why] : c.unread) {
      ignored_.Ignored("host " + subject + ": cannot apply it: " + why);
    }
    c.refused.clear();  // Logged just above, rate-limited.
    // A block event for a host that the store does not block and the sets
    // did not hold: forged, or stale.
    for (const std::string& subject : c.not_blocked) {
      if (blocks.count(subject) != 0) {
        ignored_.Ignored("host " + subject + " is not blocked in the store");
      }
    }
    LogChanges(c);
  }

  // One subscription: true when it ended by a stop signal.
  bool Subscribed(RedisConnection* sub) {
    const auto period =
        std::chrono::seconds(ctx_->config().firewall_resync_seconds);
    const auto ping_period = std::min<Steady::duration>(period, kMaxPingPeriod);
    Steady::time_point next = Steady::now();
    Steady::time_point next_ping = Steady::now() + ping_period;
    bool ping_unanswered = false;
    while (!g_stop) {
      if (g_resync || Steady::now() >= next) {
        next = Steady::now() + (Sync() ? period : std::chrono::seconds(1));
      }
      // What has come first (a pong that came during a long sync is read
      // before the PING is judged), waiting at most until the next sync or
      // PING.
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::min(next, next_ping) - Steady::now())
                            .count();
      bool timed_out = false;
      std::string err;
      RedisReplyPtr r =
          sub->Receive(static_cast<int>(std::clamp<int64_t>(left, 1, 500)),
                       &timed_out, &err);
      if (!r && !timed_out) {
        Log("lost the subscription: " + err);
        return false;
      }
      if (r) {
        ping_unanswered = false;
        // This message and those that follow it at once, applied together:
        // at most kMaxBatch replies of any kind (a server that sends
        // nothing but pongs must not keep the loop here), and no longer
        // than until a stop, a SIGHUP or the next sync or PING is due.
        std::vector<std::string> messages;
        for (size_t replies = 1; r; ++replies) {
          if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
              r->element[0]->type == REDIS_REPLY_STRING &&
              std::string_view(r->element[0]->str, r->element[0]->len) ==
                  "message" &&
              r->element[2]->type == REDIS_REPLY_STRING) {
            messages.emplace_back(r->element[2]->str, r->element[2]->len);
          }
          if (replies == kMaxBatch || g_stop || g_resync ||
              Steady::now() >= std::min(next, next_ping)) {
            break;
          }
          r = sub->Receive(1, &timed_out, &err);
        }
        Hints(messages);
        if (!timed_out && !err.empty()) {
          Log("lost the subscription: " + err);
          return false;
        }
        continue;
      }
      // Nothing came within the wait.
      if (Steady::now() < next_ping) continue;
      if (ping_unanswered) {
        Log("lost the subscription: nothing received within " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::seconds>(ping_period)
                    .count()) +
            " s of a PING");
        return false;
      }
      if (!sub->Send({"PING"}, &err)) {
        Log("lost the subscription: " + err);
        return false;
      }
      ping_unanswered = true;
      next_ping = Steady::now() + ping_period;
    }
    return true;
  }

  void WatchRedis() {
    const Config& cfg = ctx_->config();
    const std::string channel = cfg.key_prefix + ":events";
    int backoff_ms = kFirstBackoffMs;
    std::string last_err;
    while (!g_stop) {
      RedisConnection sub(RedisSettings::FromConfig(cfg));
      std::string err;
      RedisReplyPtr r = sub.Command({"SUBSCRIBE", channel}, &err);
      const bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3;
      if (!ok) {
        if (r) {
          err = r->type == REDIS_REPLY_ERROR
                    ? ErrorText(*r)
                    : std::string("unexpected reply to SUBSCRIBE");
        }
        // Each new reason once, not every retry.
        if (err != last_err) Log("cannot subscribe: " + err + " (retrying)");
        last_err = err;
        Pause(backoff_ms);
        backoff_ms = std::min(backoff_ms * 2, 30'000);
        continue;
      }
      Log("subscribed to " + channel + " on " + sub.server());
      server_.clear();
      if (const std::optional<IpAddress> ip = AddressOfServer(sub.server())) {
        server_.push_back(*ip);
      }
      last_err.clear();
      backoff_ms = kFirstBackoffMs;
      if (Subscribed(&sub)) return;
      Pause(100);  // Then subscribe again and re-sync.
    }
  }

  Context* ctx_;
  SyncTarget t_;
  std::optional<FirewallGuard> guard_;
  std::vector<IpAddress> server_;   // The Redis server subscribed to.
  std::set<std::string> reported_;  // Refused at the last full sync.
  std::string reported_off_;        // FirewallGuard::off() last said.
  std::string sync_error_;          // Of the last full sync; "" if it worked.
  size_t present_ = 0;
  IgnoredLog ignored_;
};

}  // namespace

int WatchFirewall(Context* ctx, const SyncTarget& target) {
  return Watcher(ctx, target).Run();
}

}  // namespace defender::ctl
