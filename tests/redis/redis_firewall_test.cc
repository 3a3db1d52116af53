// The firewall's SyncHosts (defenderctl/firewall_sync.h) on a real
// redis-server whose keyspace holds a hostile value: a host's record key
// ("<prefix>:{host:<name>}:s", doc/redis.md) that is not a hash. The store
// cannot read that host; SyncHosts leaves its element as it is, lists it in
// SyncChanges::unread with the store's error and applies the other hosts of
// the batch. The firewall is the kernel's, in a private network namespace
// (root only, as in tests/unit/firewall_test.cc); the store reaches Redis
// through its unix socket, which that namespace does not hide.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/redis_conn.h"
#include "common/redis_store.h"
#include "defenderctl/firewall.h"
#include "defenderctl/firewall_guard.h"
#include "defenderctl/firewall_sync.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace defender::testing {
namespace {

using ctl::DescribeChanges;
using ctl::Firewall;
using ctl::FirewallElement;
using ctl::FirewallGuard;
using ctl::FirewallSettings;
using ctl::SyncChanges;
using ctl::SyncTarget;

constexpr int64_t kNow = 1'700'000'000;

// Runs `command` on `conn` and returns its reply as text ("ERR:..." for an
// error reply, "(nil)", integers in decimal), or "failed: ..." when it could
// not be sent.
std::string Run(RedisConnection* conn,
                const std::vector<std::string>& command) {
  std::string err;
  const RedisReplyPtr r = conn->Command(command, &err);
  if (!r) return "failed: " + err;
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::string(r->str, r->len);
    case REDIS_REPLY_ERROR:
      return "ERR:" + std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    default:
      return "type " + std::to_string(r->type);
  }
}

TEST_CASE(
    "SyncHosts on Redis: a record of the wrong type holds up only its "
    "host") {
  RedisServer server({{}, /*unix_socket=*/true});
  const std::string result = InChild([&]() -> std::string {
    if (unshare(CLONE_NEWNET) != 0) return "unshare failed";
    RedisSettings settings;
    settings.url = "unix://" + server.socket_path();
    settings.connect_timeout_ms = 2000;
    settings.command_timeout_ms = 2000;
    RedisConnection conn(settings);
    RedisStore store(&conn, RedisStoreOptions{});
    FirewallSettings fs;
    fs.table = "pd_redis_unread";
    Firewall fw(fs);
    const Config cfg;
    const FirewallGuard guard(cfg, {});
    const SyncTarget target{&fw, &store, &guard, /*max_elements=*/10};
    std::string err;
    std::string log;
    const auto block = [&](const std::string& h, int64_t until) {
      if (!store.Block({SubjectKind::kHost, h}, until, kNow, &err)) {
        log += "block " + h + ": " + err + "\n";
      }
    };
    // Three hosts really blocked, and in the sets after a full sync.
    block("203.0.113.1", kNow + 100);
    block("203.0.113.2", kNow + 200);
    block("203.0.113.3", 0);
    SyncChanges first;
    if (!ctl::SyncAll(target, kNow, &first, &err)) return "sync: " + err;
    // In the order of the store's SCAN, which Redis does not promise.
    std::sort(first.added.begin(), first.added.end(),
              [](const FirewallElement& a, const FirewallElement& b) {
                return a.addr < b.addr;
              });
    log += DescribeChanges(first);

    // Then .2's record becomes a list and .3's a string of garbage (anyone
    // who can write to the database); .1 is blocked for longer and .4 is
    // blocked anew, through the store.
    const std::string key2 = "defender:{host:203.0.113.2}:s";
    const std::string key3 = "defender:{host:203.0.113.3}:s";
    log += "key " + store.RecordKey({SubjectKind::kHost, "203.0.113.2"}) + "\n";
    log += "del " + Run(&conn, {"DEL", key2}) + "\n";
    log += "rpush " + Run(&conn, {"RPUSH", key2, "garbage", "\x01\xff"}) + "\n";
    log +=
        "set " + Run(&conn, {"SET", key3, std::string("\x00\xfe{}", 4)}) + "\n";
    log += "type " + Run(&conn, {"TYPE", key2}) + " " +
           Run(&conn, {"TYPE", key3}) + "\n";
    block("203.0.113.1", kNow + 1000);
    block("203.0.113.4", kNow + 300);

    const std::vector<std::string> burst = {"203.0.113.1", "203.0.113.2",
                                            "203.0.113.3", "203.0.113.4"};
    size_t present = 0;
    SyncChanges b;
    if (!ctl::SyncHosts(target, burst, kNow + 1, &present, &b, &err)) {
      return log + "burst: " + err;
    }
    log += "burst:\n" + DescribeChanges(b);
    // The store's error: the server, then the server's error, which names
    // the problem; what the server adds after it (the script's hash and
    // line) is not compared.
    const std::string wrongtype =
        server.socket_path() +
        ": WRONGTYPE Operation against a key holding the wrong kind of value";
    const auto shown = [&](const std::string& why) {
      return why.rfind(wrongtype + " ", 0) == 0 ? "WRONGTYPE (the server's)"
                                                : why;
    };
    for (const auto& [h, why] : b.unread) {
      log += "unread " + h + ": " + shown(why) + "\n";
    }
    for (const std::string& h : b.not_blocked) log += "not blocked " + h + "\n";
    log += "present " + std::to_string(present) + "\n";
    std::vector<FirewallElement> have;
    bool exists = false;
    if (!fw.List(&have, &exists, &err)) return log + "list: " + err;
    // The kernel counts timeouts down: only permanence is compared.
    for (const FirewallElement& e : have) {
      log += "listed " + e.addr + (e.timeout == 0 ? " permanent\n" : "\n");
    }
    // The hostile values are still there: a sync only reads the store.
    log += "type " + Run(&conn, {"TYPE", key2}) + " " +
           Run(&conn, {"TYPE", key3}) + "\n";

    // A sync of the unreadable hosts alone fails with the store's error and
    // changes nothing.
    SyncChanges alone;
    const std::vector<std::string> bad = {"203.0.113.2", "203.0.113.3"};
    err.clear();
    const bool ok =
        ctl::SyncHosts(target, bad, kNow + 2, &present, &alone, &err);
    log += std::string(ok ? "alone: applied, " : "alone: failed, ") +
           shown(err) + "\n";
    log += "alone unread " + std::to_string(alone.unread.size()) +
           DescribeChanges(alone) + "\n";
    have.clear();
    if (!fw.List(&have, &exists, &err)) return log + "list: " + err;
    log += "listed " + std::to_string(have.size()) + "\n";
    bool existed = false;
    fw.Remove(&existed, &err);
    return log;
  });
  CHECK(result ==
        "created the table\n"
        "+ 203.0.113.1 (100s)\n"
        "+ 203.0.113.2 (200s)\n"
        "+ 203.0.113.3 (permanent)\n"
        "key defender:{host:203.0.113.2}:s\n"
        "del 1\n"
        "rpush 2\n"
        "set OK\n"
        "type list string\n"
        "burst:\n"
        "+ 203.0.113.4 (299s)\n"
        "~ 203.0.113.1 (999s)\n"
        "unread 203.0.113.2: WRONGTYPE (the server's)\n"
        "unread 203.0.113.3: WRONGTYPE (the server's)\n"
        "present 4\n"
        "listed 203.0.113.1\n"
        "listed 203.0.113.2\n"
        "listed 203.0.113.3 permanent\n"
        "listed 203.0.113.4\n"
        "type list string\n"
        "alone: failed, WRONGTYPE (the server's)\n"
        "alone unread 2\n"
        "listed 4\n");
}

}  // namespace
}  // namespace defender::testing
