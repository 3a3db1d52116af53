// The module's own heap, behind its operator new and delete (release
// builds; doc/DESIGN.md §7, "A heap of its own").
//
// A step makes about 130 allocations, half of them strings. glibc serves
// each from a free chunk of the host's heap, and in a login process forked
// from a parent whose heap is fragmented those chunks lie in pages shared
// copy-on-write with the parent: each first write to one is a page fault
// (a failed login's pam_authenticate took 85 page faults instead of 17).
// Here small blocks are carved from chunks of this heap, so that a step's
// allocations share a few pages.
//
// Contract:
//   - Allocate(n) returns memory for n bytes, aligned to 16, or nullptr
//     when memory has run out; Free(p) takes what Allocate returned (or
//     nullptr). A block freed twice is left alone the second time, instead
//     of being handed out twice (glibc would end the process).
//   - Blocks of up to kMaxSmall bytes come from chunks of chunk_size bytes,
//     themselves malloc'd; larger blocks, all blocks when chunk_size is 0,
//     and every block while another thread holds the heap (or a fork()
//     left it held in this process) are malloc'd one by one.
//   - Never blocks: the heap is taken with a try-lock; a Free that finds it
//     taken queues the block, lock-free, for the next holder.
//   - ReleaseIfUnused() gives the chunks back to malloc when none of their
//     blocks is in use (at the end of each step, and when the module is
//     unloaded); chunks are otherwise kept for reuse.
//   - constexpr constructor: a global heap needs no constructor at load.
#ifndef PAM_DEFENDER_PAM_DEFENDER_MODULE_HEAP_H_
#define PAM_DEFENDER_PAM_DEFENDER_MODULE_HEAP_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace defender {

class ModuleHeap {
 public:
  static constexpr size_t kMaxSmall = 2048;
  static constexpr size_t kClasses = 22;  // 16, 32, ..., 256, 384, ..., 2048

  constexpr explicit ModuleHeap(size_t chunk_size) : chunk_size_(chunk_size) {}
  ModuleHeap(const ModuleHeap&) = delete;
  ModuleHeap& operator=(const ModuleHeap&) = delete;

  void* Allocate(size_t n) noexcept;
  void Free(void* p) noexcept;
  void ReleaseIfUnused() noexcept;

  // For tests: chunk blocks in use; chunks held; holding the heap as
  // another thread would (TryHold is false if it is held already).
  size_t live_blocks() const { return live_; }
  size_t chunks() const;
  bool TryHold() noexcept {
    return !held_.test_and_set(std::memory_order_acquire);
  }
  void Unhold() noexcept { held_.clear(std::memory_order_release); }

 private:
  // In front of every block: its size class (kMalloced: malloc'd alone),
  // whether it is in use, and the next block while it is free or queued.
  struct Header {
    uint32_t size_class;
    uint32_t state;  // kInUse while allocated.
    Header* next;
  };
  struct Chunk {  // At the start of each chunk, keeping blocks 16-aligned.
    Chunk* next;
    size_t unused;
  };
  static constexpr uint32_t kMalloced = ~uint32_t{0};
  static constexpr uint32_t kInUse = 0x55534544;  // "USED"
  static constexpr uint32_t kFreed = 0x46524545;  // "FREE"

  static void* FromMalloc(size_t n) noexcept;
  void DrainQueued() noexcept;          // Holding the heap.
  bool NewChunk(size_t need) noexcept;  // Holding the heap.

  const size_t chunk_size_;
  std::atomic_flag held_ = ATOMIC_FLAG_INIT;
  Header* free_[kClasses] = {};  // Per class, the freed blocks.
  char* bump_ = nullptr;         // The current chunk's unused part.
  char* bump_end_ = nullptr;
  Chunk* chunk_list_ = nullptr;
  size_t live_ = 0;  // Chunk blocks allocated and not freed.
  std::atomic<Header*> queued_{nullptr};  // Blocks freed while held.
};

}  // namespace defender

#endif  // PAM_DEFENDER_PAM_DEFENDER_MODULE_HEAP_H_
