#include "pam_defender/module_heap.h"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace defender {
namespace {

bool Aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

TEST_CASE("module heap: blocks of every size, aligned, distinct, reused") {
  ModuleHeap heap(64 * 1024);
  std::vector<std::pair<unsigned char*, size_t>> blocks;
  for (size_t n = 0; n <= 3000; n += 7) {
    auto* p = static_cast<unsigned char*>(heap.Allocate(n));
    REQUIRE(p != nullptr);
    CHECK(Aligned16(p));
    memset(p, static_cast<int>(n & 0xff), n);
    blocks.emplace_back(p, n);
  }
  // Small blocks (up to 2,048 bytes) come from the chunks; larger ones not.
  CHECK(heap.live_blocks() == 293);
  for (const auto& [p, n] : blocks) {  // Nothing overlapped.
    for (size_t i = 0; i < n; ++i) REQUIRE(p[i] == (n & 0xff));
  }
  for (const auto& [p, n] : blocks) heap.Free(p);
  CHECK(heap.live_blocks() == 0);
  // A freed block of the same size class is handed out again.
  void* a = heap.Allocate(100);
  heap.Free(a);
  CHECK(heap.Allocate(112) == a);
  heap.Free(a);
  heap.Free(nullptr);
  heap.ReleaseIfUnused();
  CHECK(heap.chunks() == 0);
}

TEST_CASE("module heap: a block freed twice is not handed out twice") {
  ModuleHeap heap(64 * 1024);
  void* a = heap.Allocate(64);
  heap.Free(a);
  heap.Free(a);
  CHECK(heap.live_blocks() == 0);
  void* b = heap.Allocate(64);
  void* c = heap.Allocate(64);
  CHECK(b == a);
  CHECK(c != a);
  heap.Free(b);
  heap.Free(c);
  void* big = heap.Allocate(4000);  // Malloc'd alone.
  heap.Free(big);
  heap.ReleaseIfUnused();
  CHECK(heap.chunks() == 0);
}

TEST_CASE("module heap: chunks go back to malloc when no block is in use") {
  ModuleHeap heap(4096);
  std::vector<void*> blocks;
  for (int i = 0; i < 100; ++i) blocks.push_back(heap.Allocate(200));
  CHECK(heap.chunks() == 6);  // 18 blocks of 216 bytes in each 4 KB chunk.
  heap.ReleaseIfUnused();
  CHECK(heap.chunks() == 6);  // All in use: kept.
  for (size_t i = 1; i < blocks.size(); ++i) heap.Free(blocks[i]);
  heap.ReleaseIfUnused();
  CHECK(heap.chunks() == 6);  // One in use: kept.
  heap.Free(blocks[0]);
  heap.ReleaseIfUnused();
  CHECK(heap.chunks() == 0);
  CHECK(heap.live_blocks() == 0);
  void* again = heap.Allocate(200);  // A new chunk.
  CHECK(heap.chunks() == 1);
  heap.Free(again);
  heap.ReleaseIfUnused();
  CHECK(heap.chunks() == 0);
}

TEST_CASE("module heap: without chunks, or held, every block is malloc'd") {
  ModuleHeap no_chunks(0);
  void* p = no_chunks.Allocate(64);
  REQUIRE(p != nullptr);
  CHECK(no_chunks.live_blocks() == 0);
  CHECK(no_chunks.chunks() == 0);
  no_chunks.Free(p);

  ModuleHeap heap(64 * 1024);
  REQUIRE(heap.TryHold());  // As another thread would.
  void* q = heap.Allocate(64);
  REQUIRE(q != nullptr);
  CHECK(heap.live_blocks() == 0);
  heap.Free(q);  // Malloc'd: freed at once, held or not.
  heap.Unhold();
  void* r = heap.Allocate(64);
  CHECK(heap.live_blocks() == 1);
  REQUIRE(heap.TryHold());
  heap.Free(r);  // Held: queued, taken in by the next holder.
  CHECK(heap.live_blocks() == 1);
  heap.Unhold();
  heap.ReleaseIfUnused();
  CHECK(heap.live_blocks() == 0);
  CHECK(heap.chunks() == 0);
}

TEST_CASE(
    "module heap: a fork while another thread holds it does not hang "
    "the child") {
  static ModuleHeap heap(64 * 1024);
  void* before = heap.Allocate(64);
  REQUIRE(heap.TryHold());  // Left held in the child, as by a thread.
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    void* p = heap.Allocate(100);
    if (p == nullptr) _exit(2);
    memset(p, 1, 100);
    heap.Free(p);
    heap.Free(before);       // Queued: never taken in, never lost either.
    heap.ReleaseIfUnused();  // Held: does nothing.
    _exit(heap.chunks() == 1 ? 0 : 3);
  }
  heap.Unhold();
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  heap.Free(before);
  heap.ReleaseIfUnused();
  CHECK(heap.chunks() == 0);
}

TEST_CASE("module heap: threads allocating and freeing at once") {
  ModuleHeap heap(16 * 1024);
  constexpr int kThreads = 4;
  constexpr int kRounds = 100000;
  std::atomic<int> bad{0};
  auto work = [&](int seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<unsigned char*, unsigned char>> mine;
    for (int i = 0; i < kRounds; ++i) {
      if (mine.size() < 50 && (mine.empty() || rng() % 2 == 0)) {
        const size_t n = 1 + rng() % 2500;
        auto* p = static_cast<unsigned char*>(heap.Allocate(n));
        if (p == nullptr || !Aligned16(p)) {
          ++bad;
          continue;
        }
        const auto tag = static_cast<unsigned char>(rng());
        p[0] = tag;
        p[n - 1] = tag;
        mine.emplace_back(p, tag);
      } else {
        const size_t k = rng() % mine.size();
        if (mine[k].first[0] != mine[k].second) ++bad;  // Overwritten.
        heap.Free(mine[k].first);
        mine[k] = mine.back();
        mine.pop_back();
      }
    }
    for (const auto& [p, tag] : mine) heap.Free(p);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(work, t + 1);
  for (std::thread& t : threads) t.join();
  CHECK(bad.load() == 0);
  heap.ReleaseIfUnused();
  CHECK(heap.live_blocks() == 0);
  CHECK(heap.chunks() == 0);
}

}  // namespace
}  // namespace defender
