// The LocalStore's record file decoder (common/subject_record.h): a record
// file as a crash, a torn write, a full disk or a damaged disk may leave it.
//
// A slot counts only when its checksum holds, which random bytes never
// satisfy, so the harness seals what it is given: the first byte of the
// input says which slots get a correct checksum (and trailer) at the place
// their header says the record ends, read here from the layout in
// subject_record.h, not through the decoder. The rest is the file.
//
// Properties: a decoded record is within the bounds the store relies on; it
// is the newest slot that decodes alone; after FitRemembered it fits a slot,
// and EncodeSlot of it decodes to the same record.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "common/siphash.h"
#include "common/subject_record.h"
#include "fuzz_check.h"

namespace {

constexpr size_t kHeader = 32;
constexpr size_t kSum = 8;
constexpr size_t kGeneration = 4;

uint64_t Le(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void Seal(uint8_t* at, const uint8_t* data, size_t size) {
  const defender::SipDigest d =
      defender::SipHash128(defender::SipKey{}, {data, size});
  std::copy_n(d.begin(), kSum, at);
}

// Writes the checksum (and, with `trailer`, a valid trailer) where the
// slot's header says its record ends, if that lies within the slot.
void SealSlot(std::span<uint8_t> b, bool trailer) {
  if (b.size() < kHeader) return;
  size_t size = kHeader + 8 * size_t{b[7]} + Le(&b[12], 2);
  const size_t remembered = b[4] == 1 ? 0 : b[14];
  for (size_t i = 0; i < remembered && size + 10 <= b.size(); ++i) {
    size += 10 + Le(&b[size + 8], 2);
  }
  if (size + kSum > b.size()) return;
  Seal(&b[size], b.data(), size);
  if (trailer && size + kSum + kGeneration + kSum <= b.size()) {
    Seal(&b[size + kSum + kGeneration], &b[size], kSum + kGeneration);
  }
}

bool Same(const defender::SubjectRecord& a, const defender::SubjectRecord& b) {
  const bool state = a.state.has_value() == b.state.has_value() &&
                     (!a.state || (a.state->failures == b.state->failures &&
                                   a.state->blocked == b.state->blocked &&
                                   a.state->expires == b.state->expires &&
                                   a.state->generation == b.state->generation));
  const bool remembered =
      a.remembered.size() == b.remembered.size() &&
      std::equal(a.remembered.begin(), a.remembered.end(), b.remembered.begin(),
                 [](const defender::RememberedHost& x,
                    const defender::RememberedHost& y) {
                   return x.host == y.host && x.until == y.until;
                 });
  return a.kind == b.kind && a.name == b.name && state &&
         a.history == b.history && remembered;
}

bool DecodeAlone(std::span<const uint8_t> slot, defender::SubjectRecord* out) {
  int which = -1;
  return defender::DecodeRecordFile(slot, out, &which) && which == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  std::vector<uint8_t> file(data + 1, data + size);
  if (file.size() > defender::kRecordFileMaxBytes) {
    file.resize(defender::kRecordFileMaxBytes);
  }
  std::span<uint8_t> slots[2];
  for (size_t i = 0; i < 2; ++i) {
    const size_t at = i * defender::kSlotBytes;
    if (file.size() > at) {
      slots[i] = std::span<uint8_t>(file).subspan(
          at, std::min(defender::kSlotBytes, file.size() - at));
      if (control & (1u << i)) SealSlot(slots[i], (control & 4) != 0);
    }
  }

  defender::SubjectRecord rec;
  int slot = -1;
  if (!defender::DecodeRecordFile(file, &rec, &slot)) {
    for (const auto& s : slots) {
      defender::SubjectRecord alone;
      fuzz::Check(!DecodeAlone(s, &alone), "a file with a valid slot decodes");
    }
    return 0;
  }
  fuzz::Check(slot == 0 || slot == 1, "a slot index");
  fuzz::Check(rec.name.size() <= defender::kMaxRecordName &&
                  rec.history.size() <= defender::kMaxHistory &&
                  rec.remembered.size() <= defender::kMaxRememberedHosts,
              "bounded fields");
  for (const defender::RememberedHost& h : rec.remembered) {
    fuzz::Check(h.host.size() <= defender::kMaxRememberedHost,
                "bounded remembered host");
  }

  // The newest slot that is valid on its own.
  defender::SubjectRecord alone;
  fuzz::Check(DecodeAlone(slots[slot], &alone) && Same(alone, rec) &&
                  alone.seq == rec.seq,
              "the chosen slot decodes alone to the same record");
  defender::SubjectRecord other;
  if (DecodeAlone(slots[1 - slot], &other)) {
    fuzz::Check(static_cast<int32_t>(other.seq - rec.seq) <= 0 ||
                    (slot == 0 &&
                     static_cast<int32_t>(rec.seq - other.seq) == INT32_MIN),
                "no newer valid slot");
  }

  // What the store writes back (local_store.cc): FitRemembered, then
  // EncodeSlot into the other slot.
  defender::SubjectRecord next = rec;
  next.FitRemembered();
  fuzz::Check(defender::FitsSlot(next), "fits a slot after FitRemembered");
  const std::string bytes = defender::EncodeSlot(next, rec.seq + 1);
  fuzz::Check(bytes.size() == defender::EncodedSize(next) &&
                  bytes.size() <= defender::kSlotBytes,
              "encoded size");
  defender::SubjectRecord back;
  fuzz::Check(DecodeAlone({reinterpret_cast<const uint8_t*>(bytes.data()),
                           bytes.size()},
                          &back) &&
                  Same(back, next) && back.seq == rec.seq + 1,
              "round trip");
  return 0;
}
