#include "pam_defender/module_heap.h"

#include <cstdlib>

namespace defender {
namespace {

constexpr size_t kSizes[ModuleHeap::kClasses] = {
    16,  32,  48,  64,  80,  96,  112, 128, 144,  160,  176,
    192, 208, 224, 240, 256, 384, 512, 768, 1024, 1536, 2048};
static_assert(kSizes[ModuleHeap::kClasses - 1] == ModuleHeap::kMaxSmall);

uint32_t ClassOf(size_t n) {
  if (n <= 256) return static_cast<uint32_t>((n + 15) / 16 - 1);
  uint32_t c = 16;
  while (kSizes[c] < n) ++c;
  return c;
}

}  // namespace

void* ModuleHeap::FromMalloc(size_t n) noexcept {
  if (n > SIZE_MAX - sizeof(Header)) return nullptr;
  auto* h = static_cast<Header*>(malloc(sizeof(Header) + n));
  if (h == nullptr) return nullptr;
  h->size_class = kMalloced;
  h->state = kInUse;
  return h + 1;
}

void* ModuleHeap::Allocate(size_t n) noexcept {
  if (n == 0) n = 1;
  if (chunk_size_ == 0 || n > kMaxSmall || !TryHold()) return FromMalloc(n);
  if (queued_.load(std::memory_order_relaxed) != nullptr) DrainQueued();
  const uint32_t c = ClassOf(n);
  Header* h = free_[c];
  if (h != nullptr) {
    free_[c] = h->next;
  } else {
    const size_t need = sizeof(Header) + kSizes[c];
    if (static_cast<size_t>(bump_end_ - bump_) < need && !NewChunk(need)) {
      Unhold();
      return FromMalloc(n);
    }
    h = reinterpret_cast<Header*>(bump_);
    bump_ += need;
    h->size_class = c;
  }
  h->state = kInUse;
  h->next = nullptr;
  ++live_;
  Unhold();
  return h + 1;
}

void ModuleHeap::Free(void* p) noexcept {
  if (p == nullptr) return;
  Header* h = static_cast<Header*>(p) - 1;
  // Freed already (for a malloc'd block, glibc has written over the state
  // since): leave it.
  if (h->state != kInUse) return;
  h->state = kFreed;
  if (h->size_class == kMalloced) {
    free(h);
    return;
  }
  if (!TryHold()) {
    Header* head = queued_.load(std::memory_order_relaxed);
    do {
      h->next = head;
    } while (!queued_.compare_exchange_weak(head, h, std::memory_order_release,
                                            std::memory_order_relaxed));
    return;
  }
  h->next = free_[h->size_class];
  free_[h->size_class] = h;
  --live_;
  Unhold();
}

void ModuleHeap::DrainQueued() noexcept {
  Header* h = queued_.exchange(nullptr, std::memory_order_acquire);
  while (h != nullptr) {
    Header* next = h->next;
    h->next = free_[h->size_class];
    free_[h->size_class] = h;
    --live_;
    h = next;
  }
}

bool ModuleHeap::NewChunk(size_t need) noexcept {
  if (chunk_size_ < sizeof(Chunk) + need) return false;
  auto* chunk = static_cast<Chunk*>(malloc(chunk_size_));
  if (chunk == nullptr) return false;
  chunk->next = chunk_list_;
  chunk_list_ = chunk;
  // What was left of the previous chunk is not used again.
  bump_ = reinterpret_cast<char*>(chunk + 1);
  bump_end_ = reinterpret_cast<char*>(chunk) + chunk_size_;
  return true;
}

void ModuleHeap::ReleaseIfUnused() noexcept {
  if (!TryHold()) return;
  DrainQueued();
  if (live_ == 0) {
    while (chunk_list_ != nullptr) {
      Chunk* next = chunk_list_->next;
      free(chunk_list_);
      chunk_list_ = next;
    }
    for (Header*& f : free_) f = nullptr;
    bump_ = bump_end_ = nullptr;
  }
  Unhold();
}

size_t ModuleHeap::chunks() const {
  size_t n = 0;
  for (const Chunk* c = chunk_list_; c != nullptr; c = c->next) ++n;
  return n;
}

}  // namespace defender
