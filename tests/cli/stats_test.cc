// defenderctl stats: text, JSON and Prometheus over a known store.
#include <doctest/doctest.h>

#include "tests/cli/harness.h"

namespace defender::testing {
namespace {

// alice and 10.0.0.1 blocked by the module (4 failures each, 1 refused),
// bob failing twice from 10.0.0.2, one success by carol, eve blocked for
// good by hand.
void Fill(Sandbox& box) {
  box.AddUser("alice", "a");
  box.AddUser("bob", "b");
  box.AddUser("carol", "c");
  for (int i = 0; i < 4; ++i) CHECK(box.Login("alice", "x", "10.0.0.1") != 0);
  CHECK(box.Login("alice", "a", "10.0.0.1") != 0);
  CHECK(box.Login("bob", "x", "10.0.0.2") != 0);
  CHECK(box.Login("bob", "x", "10.0.0.2") != 0);
  CHECK(box.Login("carol", "c", "10.0.0.3") == 0);
  REQUIRE(box.Ctl({"block", "--user", "eve", "--permanent"}).status == 0);
}

TEST_CASE("stats --json: every count") {
  Sandbox box;
  Fill(box);
  RunResult r = box.Ctl({"stats", "--format", "json"});
  CHECK(r.status == 0);
  const Json j = ParseJson(r.out);
  CHECK(j["blocked_users"] == 2);
  CHECK(j["blocked_hosts"] == 1);
  CHECK(j["permanent_blocks"] == 1);
  CHECK(j["failing_users"] == 1);
  CHECK(j["failing_hosts"] == 1);
  CHECK(j["failures"] == 12);  // 4 + 4 + 2 + 2 + 0.
  CHECK(j["blocks_in_window"] == 3);
  CHECK(j["window_seconds"] == 86400);
  CHECK(j["attempts"]["failure"] == 6);
  CHECK(j["attempts"]["success"] == 1);
  CHECK(j["attempts"]["refused"] == 1);
  CHECK(ParseJson(box.Ctl({"--json", "stats"}).out) == j);
  // --json asks for JSON: another --format contradicts it.
  r = box.Ctl({"--json", "stats", "--format", "text"});
  CHECK(r.status == 2);
  CHECK(r.out == "");
}

TEST_CASE("stats: text") {
  Sandbox box;
  Fill(box);
  const RunResult r = box.Ctl({"stats"});
  CHECK(r.status == 0);
  CHECK(r.out ==
        "WHAT                            COUNT\n"
        "blocked users                   2\n"
        "blocked hosts                   1\n"
        "permanent blocks                1\n"
        "failing users (not blocked)     1\n"
        "failing hosts (not blocked)     1\n"
        "blocked pairs (user@host)       0\n"
        "failing pairs (not blocked)     0\n"
        "live failures                   12\n"
        "blocks (last 24h)               3\n"
        "failed attempts (last 24h)      6\n"
        "successful attempts (last 24h)  1\n"
        "refused attempts (last 24h)     1\n");
}

TEST_CASE("stats --format prometheus: defender_ metrics with HELP and TYPE") {
  Sandbox box;
  Fill(box);
  const RunResult r = box.Ctl({"stats", "--format", "prometheus"});
  CHECK(r.status == 0);
  const std::string& o = r.out;
  for (const char* line : {
           "# TYPE defender_blocked gauge\n",
           "defender_blocked{kind=\"user\"} 2\n",
           "defender_blocked{kind=\"host\"} 1\n",
           "defender_blocked{kind=\"pair\"} 0\n",
           "defender_permanent_blocks 1\n",
           "defender_failing{kind=\"user\"} 1\n",
           "defender_failing{kind=\"host\"} 1\n",
           "defender_failing{kind=\"pair\"} 0\n",
           "defender_failures 12\n",
           "defender_window_seconds 86400\n",
           "defender_blocks_in_window 3\n",
           "defender_attempts_in_window{result=\"failure\"} 6\n",
           "defender_attempts_in_window{result=\"success\"} 1\n",
           "defender_attempts_in_window{result=\"refused\"} 1\n",
       }) {
    CHECK_MESSAGE(o.find(line) != std::string::npos, line);
  }
  // Every sample line belongs to a metric announced by HELP and TYPE
  // just before it (the text exposition format).
  std::string current;
  size_t samples = 0;
  size_t pos = 0;
  while (pos < o.size()) {
    const size_t end = o.find('\n', pos);
    REQUIRE(end != std::string::npos);
    const std::string line = o.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("# HELP ", 0) == 0) {
      current = line.substr(7, line.find(' ', 7) - 7);
      CHECK(current.rfind("defender_", 0) == 0);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      CHECK(line == "# TYPE " + current + " gauge");
      continue;
    }
    const std::string name = line.substr(0, line.find_first_of("{ "));
    CHECK(name == current);
    ++samples;
  }
  CHECK(samples == 13);
}

}  // namespace
}  // namespace defender::testing
