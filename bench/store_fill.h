// A large store for the scaling scenario, written directly (record files,
// and SQL in one transaction for the attempt log), and the administrative
// operations timed on it.
#ifndef PAM_DEFENDER_BENCH_STORE_FILL_H_
#define PAM_DEFENDER_BENCH_STORE_FILL_H_

#include <cstdint>
#include <string>

namespace bench {

// Fills the local store in the directory of `path` with `subjects` live
// subjects (half users, half hosts; one in 100 blocked, each blocked one
// with a block in its history) and the attempt archive beside it (attempts.db) with
// `attempts` rows, all older than 25 hours so that a 24-hour cleanup
// removes every one of them.
bool FillStore(const std::string& path, int64_t subjects, int64_t attempts,
               int64_t now, std::string* err);

struct StoreOpTimes {
  double list_ms = 0;  // Store::List(all) = `defenderctl list`.
  int64_t listed = 0;
  double list_blocked_ms = 0;  // Store::List(blocked only).
  int64_t listed_blocked = 0;
  double cleanup_ms = 0;      // The archive's Prune = `cleanup`.
  double cleanup_cpu_ms = 0;  // Its CPU time (user + system).
  int64_t cleaned = 0;
  double store_prune_ms = 0;  // Store::Prune (expired records).
  int64_t store_pruned = 0;
};

// Times the operations above on the store at `path` (the attempt rows older
// than 24 hours are deleted: run it on a copy).
bool TimeStoreOps(const std::string& path, int64_t now, StoreOpTimes* out,
                  std::string* err);

}  // namespace bench

#endif  // PAM_DEFENDER_BENCH_STORE_FILL_H_
