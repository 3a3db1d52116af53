#include "common/journal_record.h"

#include <array>
#include <cstring>

namespace defender {
namespace {

constexpr const char* kResults[] = {"failure", "success", "refused"};

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetLe(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= uint64_t{static_cast<unsigned char>(in[at + i])} << (8 * i);
  }
  return v;
}

// Decodes a payload of exactly `p.size()` bytes; false when its fields do
// not fill it exactly or break a bound.
bool DecodePayload(std::string_view p, Attempt* a) {
  if (p.size() < kMinPayload || p.size() > kMaxPayload) return false;
  a->time = static_cast<int64_t>(GetLe(p, 0, 8));
  if (a->time < kMinRecordTime || a->time > kMaxRecordTime) return false;
  const unsigned result = static_cast<unsigned char>(p[8]);
  if (result >= std::size(kResults)) return false;
  a->result = kResults[result];
  size_t at = 9;
  for (std::string* field : {&a->service, &a->user, &a->host, &a->tty}) {
    if (p.size() - at < 2) return false;
    const size_t n = GetLe(p, at, 2);
    at += 2;
    if (n > kMaxFieldBytes || p.size() - at < n) return false;
    field->assign(p.substr(at, n));
    at += n;
  }
  return at == p.size();
}

// The record at the start of `in`: its size, or 0 when there is none.
size_t ParseRecord(std::string_view in, Attempt* a) {
  if (in.size() < kRecordOverhead + kMinPayload ||
      std::memcmp(in.data(), kJournalMagic, 4) != 0) {
    return 0;
  }
  const size_t len = GetLe(in, 4, 4);
  if (len < kMinPayload || len > kMaxPayload ||
      in.size() < kRecordOverhead + len) {
    return 0;
  }
  if (GetLe(in, 8 + len, 4) != Crc32(in.substr(4, 4 + len))) return 0;
  if (!DecodePayload(in.substr(8, len), a)) return 0;
  return kRecordOverhead + len;
}

}  // namespace

uint32_t Crc32(std::string_view data) {
  uint32_t c = 0xFFFFFFFFu;
  for (const char ch : data) {
    c = kCrcTable[(c ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (c >> 8);
  }
  return c ^ 0xFFFFFFFFu;
}

bool EncodeRecord(const Attempt& a, std::string* out, std::string* err) {
  size_t result = 0;
  while (result < std::size(kResults) && a.result != kResults[result]) {
    ++result;
  }
  if (result == std::size(kResults)) {
    *err = "unknown attempt result \"" + a.result.substr(0, 16) + "\"";
    return false;
  }
  if (a.time < kMinRecordTime || a.time > kMaxRecordTime) {
    *err = "attempt time " + std::to_string(a.time) + " out of range";
    return false;
  }
  const std::string* const fields[] = {&a.service, &a.user, &a.host, &a.tty};
  size_t payload = 9;
  for (const std::string* field : fields) {
    payload += 2 + std::min(field->size(), kMaxFieldBytes);
  }
  // Built in place, one allocation: magic, then the body (length and
  // payload), then the body's CRC.
  const size_t body = out->size() + 4;
  out->reserve(body + 4 + payload + 4);
  out->append(kJournalMagic, 4);
  PutLe(out, payload, 4);
  PutLe(out, static_cast<uint64_t>(a.time), 8);
  out->push_back(static_cast<char>(result));
  for (const std::string* field : fields) {
    const size_t n = std::min(field->size(), kMaxFieldBytes);
    PutLe(out, n, 2);
    out->append(*field, 0, n);
  }
  PutLe(out, Crc32(std::string_view(*out).substr(body)), 4);
  return true;
}

JournalScan ScanJournal(std::string_view data,
                        const std::function<void(const Attempt&)>& record) {
  JournalScan scan;
  const std::string_view magic(kJournalMagic, 4);
  size_t at = 0;
  Attempt a;
  while (at < data.size()) {
    const size_t n = ParseRecord(data.substr(at), &a);
    if (n > 0) {
      record(a);
      ++scan.records;
      at += n;
      continue;
    }
    size_t next = data.find(magic, at + 1);
    if (next == std::string_view::npos) next = data.size();
    scan.skipped_bytes += static_cast<int64_t>(next - at);
    at = next;
  }
  return scan;
}

}  // namespace defender
