#include "common/subject_record.h"

#include <algorithm>
#include <cstring>

#include "common/normalize.h"

namespace defender {
namespace {

constexpr uint8_t kMagic[4] = {'P', 'D', 'S', 'R'};
constexpr uint8_t kVersion = 2;
constexpr uint8_t kVersionNoRemembered = 1;
constexpr uint8_t kHasState = 1;
constexpr uint8_t kBlocked = 2;
constexpr size_t kHeaderBytes = 32;
constexpr size_t kSumBytes = 8;
// The trailer after a record's checksum: the counter's generation and a
// checksum of the record's checksum and the generation.
constexpr size_t kGenerationBytes = 4;
constexpr size_t kTrailerBytes = kGenerationBytes + kSumBytes;
constexpr size_t kRememberedEntryBytes = 8 + 2;  // Until, host length.
constexpr char kHex[] = "0123456789abcdef";

// The longest IP host subject: IPv6 text with an IPv4 tail and a prefix.
constexpr size_t kMaxIpHost =
    sizeof("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128") - 1;
static_assert(kHeaderBytes + 8 * kMaxHistory + kMaxSubjectBytes +
                      kMaxRememberedHosts *
                          (kRememberedEntryBytes + kMaxIpHost) +
                      kSumBytes + kTrailerBytes <=
                  kSlotBytes,
              "a user's 16 remembered IP hosts fit in a slot");
static_assert(kMaxRememberedHosts < 256, "the count is one byte");
static_assert(kMaxRememberedHost == kMaxSubjectBytes);

void Put(std::string* out, uint64_t v, int bytes) {
  char le[8];
  for (int i = 0; i < bytes; ++i) le[i] = static_cast<char>(v >> (8 * i));
  out->append(le, bytes);
}

uint64_t Get(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// The sequence number in a slot's header (at least kHeaderBytes long).
uint32_t SeqOf(std::span<const uint8_t> slot) {
  return static_cast<uint32_t>(Get(&slot[8], 4));
}

std::array<uint8_t, kSumBytes> Checksum(const uint8_t* data, size_t size) {
  const SipDigest d = SipHash128(SipKey{}, {data, size});
  std::array<uint8_t, kSumBytes> sum;
  std::copy_n(d.begin(), kSumBytes, sum.begin());
  return sum;
}

std::optional<SubjectKind> KindOf(char c) {
  if (c == 'u') return SubjectKind::kUser;
  if (c == 'h') return SubjectKind::kHost;
  if (c == 'p') return SubjectKind::kPair;
  return std::nullopt;
}

// Decodes one slot into *out; false, with *out unchanged, unless it is
// complete and its checksum holds.
bool DecodeSlot(std::span<const uint8_t> b, SubjectRecord* out) {
  if (b.size() < kHeaderBytes + kSumBytes ||
      !std::equal(kMagic, kMagic + 4, b.begin()) ||
      (b[4] != kVersion && b[4] != kVersionNoRemembered)) {
    return false;
  }
  const std::optional<SubjectKind> kind = KindOf(static_cast<char>(b[5]));
  const uint8_t flags = b[6];
  const size_t history = b[7];
  const size_t name_len = Get(&b[12], 2);
  const size_t remembered = b[4] == kVersionNoRemembered ? 0 : b[14];
  size_t size = kHeaderBytes + 8 * history + name_len;
  if (!kind || (flags & ~(kHasState | kBlocked)) != 0 ||
      history > kMaxHistory || name_len > kMaxRecordName ||
      remembered > kMaxRememberedHosts || size > b.size()) {
    return false;
  }
  // The remembered hosts, each checked to lie within the slot.
  RememberedList list;
  list.reserve(remembered);
  for (size_t i = 0; i < remembered; ++i) {
    if (size + kRememberedEntryBytes > b.size()) return false;
    const int64_t until = static_cast<int64_t>(Get(&b[size], 8));
    const size_t host_len = Get(&b[size + 8], 2);
    size += kRememberedEntryBytes;
    if (host_len > kMaxRememberedHost || size + host_len > b.size()) {
      return false;
    }
    list.push_back(RememberedHost{
        std::string(reinterpret_cast<const char*>(b.data() + size), host_len),
        until});
    size += host_len;
  }
  size += kSumBytes;
  if (size > b.size()) return false;
  const auto sum = Checksum(b.data(), size - kSumBytes);
  if (!std::equal(sum.begin(), sum.end(), &b[size - kSumBytes])) return false;
  // The generation counts only with its own checksum, which covers the
  // record's: what a writer that keeps no generation left after its
  // record (an older record's bytes) never passes.
  Generation generation = 0;
  if (size + kTrailerBytes <= b.size()) {
    const auto tsum = Checksum(&b[size - kSumBytes], kTrailerBytes);
    if (std::equal(tsum.begin(), tsum.end(), &b[size + kGenerationBytes])) {
      generation = static_cast<Generation>(Get(&b[size], kGenerationBytes));
    }
  }
  const auto failures = static_cast<int64_t>(Get(&b[16], 8));
  if ((flags & kHasState) && (failures < 0 || failures > kMaxStoredFailures)) {
    return false;
  }
  out->kind = *kind;
  out->seq = SeqOf(b);
  out->state.reset();
  if (flags & kHasState) {
    out->state = StoredRecord{failures, (flags & kBlocked) != 0,
                              static_cast<int64_t>(Get(&b[24], 8)), generation};
  }
  out->history.clear();
  out->history.reserve(history);
  for (size_t i = 0; i < history; ++i) {
    out->history.push_back(static_cast<int64_t>(Get(&b[32 + 8 * i], 8)));
  }
  const auto* name = reinterpret_cast<const char*>(&b[32 + 8 * history]);
  out->name.assign(name, name_len);
  out->remembered = std::move(list);
  return true;
}

}  // namespace

bool SubjectRecord::Empty(int64_t now, int64_t history_since) const {
  return !(state && IsLive(*state, now)) && BlocksSince(history_since) == 0 &&
         std::none_of(remembered.begin(), remembered.end(),
                      [&](const RememberedHost& r) { return r.until > now; });
}

int64_t SubjectRecord::BlocksSince(int64_t since) const {
  return std::count_if(history.begin(), history.end(),
                       [&](int64_t t) { return t > since; });
}

void SubjectRecord::AddBlock(int64_t now) {
  history.push_back(now);
  if (history.size() > kMaxHistory) {
    history.erase(history.begin(),
                  history.end() - static_cast<ptrdiff_t>(kMaxHistory));
  }
}

int64_t SubjectRecord::Trim(int64_t now, int64_t history_since) {
  int64_t dropped = 0;
  if (state && !IsLive(*state, now)) {
    state.reset();
    ++dropped;
  }
  dropped += DropRemembered(&remembered, now, /*forget=*/false, std::nullopt);
  return dropped + static_cast<int64_t>(std::erase_if(
                       history, [&](int64_t t) { return t <= history_since; }));
}

int64_t SubjectRecord::FitRemembered() {
  int64_t dropped = 0;
  while (!remembered.empty() && EncodedSize(*this) > kSlotBytes) {
    remembered.erase(std::min_element(
        remembered.begin(), remembered.end(),
        [](const RememberedHost& a, const RememberedHost& b) {
          return a.until != b.until ? a.until < b.until : a.host < b.host;
        }));
    ++dropped;
  }
  return dropped;
}

size_t EncodedSize(const SubjectRecord& r) {
  size_t size = kHeaderBytes + 8 * r.history.size() + r.name.size() +
                kSumBytes + kTrailerBytes;
  for (const RememberedHost& h : r.remembered) {
    size += kRememberedEntryBytes + h.host.size();
  }
  return size;
}

bool FitsSlot(const SubjectRecord& r) {
  return r.name.size() <= kMaxRecordName && r.history.size() <= kMaxHistory &&
         r.remembered.size() <= kMaxRememberedHosts &&
         std::all_of(r.remembered.begin(), r.remembered.end(),
                     [](const RememberedHost& h) {
                       return h.host.size() <= kMaxRememberedHost;
                     }) &&
         EncodedSize(r) <= kSlotBytes;
}

char KindChar(SubjectKind kind) { return KindName(kind)[0]; }

bool NeedsHashedName(std::string_view name) {
  return 2 + 2 * name.size() > kMaxPlainFileName;
}

std::string RecordFileName(SubjectKind kind, std::string_view name,
                           const SipKey& key) {
  std::string out{KindChar(kind)};
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(name.data()),
                                 name.size());
  SipDigest digest;
  if (NeedsHashedName(name)) {
    digest = SipHash128(key, bytes);
    bytes = digest;
    out += '~';
  } else {
    out += '-';
  }
  out.reserve(out.size() + 2 * bytes.size());
  for (uint8_t c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

bool ParseRecordFileName(std::string_view file, ParsedFileName* out) {
  if (file.size() < 2 || file.size() % 2 != 0) return false;
  const std::optional<SubjectKind> kind = KindOf(file[0]);
  const bool hashed = file[1] == '~';
  if (!kind || (file[1] != '-' && !hashed) ||
      (hashed && file.size() != 2 + 2 * sizeof(SipDigest)) ||
      file.size() > kMaxPlainFileName) {
    return false;
  }
  std::string name;
  for (size_t i = 2; i < file.size(); i += 2) {
    const char* hi = strchr(kHex, file[i]);
    const char* lo = strchr(kHex, file[i + 1]);
    if (file[i] == '\0' || file[i + 1] == '\0' || !hi || !lo) return false;
    name += static_cast<char>((hi - kHex) * 16 + (lo - kHex));
  }
  out->kind = *kind;
  out->hashed = hashed;
  out->name = hashed ? std::string() : std::move(name);
  return true;
}

std::string EncodeSlot(const SubjectRecord& r, uint32_t seq) {
  std::string out;
  out.reserve(EncodedSize(r));
  out.append(kMagic, kMagic + 4);
  out += static_cast<char>(kVersion);
  out += KindChar(r.kind);
  const uint8_t flags =
      r.state ? (kHasState | (r.state->blocked ? kBlocked : 0)) : 0;
  out += static_cast<char>(flags);
  out += static_cast<char>(r.history.size());
  Put(&out, seq, 4);
  Put(&out, r.name.size(), 2);
  Put(&out, r.remembered.size(), 1);
  out += '\0';  // The previous release's pending attempts: none.
  Put(&out, static_cast<uint64_t>(r.state ? r.state->failures : 0), 8);
  Put(&out, static_cast<uint64_t>(r.state ? r.state->expires : 0), 8);
  for (int64_t t : r.history) Put(&out, static_cast<uint64_t>(t), 8);
  out += r.name;
  for (const RememberedHost& h : r.remembered) {
    Put(&out, static_cast<uint64_t>(h.until), 8);
    Put(&out, h.host.size(), 2);
    out += h.host;
  }
  const auto sum =
      Checksum(reinterpret_cast<const uint8_t*>(out.data()), out.size());
  out.append(sum.begin(), sum.end());
  Put(&out, r.state ? r.state->generation : 0, kGenerationBytes);
  const auto tsum = Checksum(
      reinterpret_cast<const uint8_t*>(out.data()) + out.size() - kTrailerBytes,
      kTrailerBytes);
  out.append(tsum.begin(), tsum.end());
  return out;
}

bool DecodeRecordFile(std::span<const uint8_t> file, SubjectRecord* out,
                      int* slot) {
  std::span<const uint8_t> slots[2];
  for (int i = 0; i < 2; ++i) {
    const size_t at = i * kSlotBytes;
    if (file.size() > at) {
      slots[i] = file.subspan(at, std::min(kSlotBytes, file.size() - at));
    }
  }
  // The slot whose header has the newer sequence number first (they wrap:
  // the newer is the one ahead by less than half): if it is valid it is the
  // newest valid slot, and the other one need not be checked. DecodeSlot
  // leaves *out alone unless the slot is valid.
  int first = 0;
  if (slots[0].size() >= kHeaderBytes && slots[1].size() >= kHeaderBytes) {
    if (static_cast<int32_t>(SeqOf(slots[1]) - SeqOf(slots[0])) > 0) {
      first = 1;
    }
  }
  for (const int i : {first, 1 - first}) {
    if (DecodeSlot(slots[i], out)) {
      *slot = i;
      return true;
    }
  }
  return false;
}

}  // namespace defender
