// The attempt journal's record format (doc/DESIGN.md §9): what the module
// appends for each attempt and defenderctl reads back. Self-delimiting, so
// that a reader can skip a torn or damaged record and go on.
//
// A record, integers little-endian:
//   magic    4 bytes  00 'P' 'D' 'J'
//   length   u32      bytes of the payload (kMinPayload..kMaxPayload)
//   payload  time (i64), result (u8: 0 failure, 1 success, 2 refused),
//            then service, user, host, tty, each a u16 length
//            (<= kMaxFieldBytes) and its bytes
//   crc      u32      CRC-32 (IEEE) of length and payload
// The magic starts with a NUL, which no PAM item (a C string) contains, and
// a valid length has two zero high bytes: a record cannot be forged inside
// a logged field. The reader looks for the magic inside other bytes only
// after a damaged record.
#ifndef PAM_DEFENDER_COMMON_JOURNAL_RECORD_H_
#define PAM_DEFENDER_COMMON_JOURNAL_RECORD_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/attempt_log.h"

namespace defender {

inline constexpr char kJournalMagic[4] = {'\0', 'P', 'D', 'J'};
// Longest field kept (the Login's fields are already cut to this).
inline constexpr size_t kMaxFieldBytes = 256;
inline constexpr size_t kMinPayload = 8 + 1 + 4 * 2;
inline constexpr size_t kMaxPayload = kMinPayload + 4 * kMaxFieldBytes;
// Magic, length and CRC around the payload.
inline constexpr size_t kRecordOverhead = 4 + 4 + 4;
inline constexpr size_t kMaxRecordBytes = kRecordOverhead + kMaxPayload;

// The times a record may hold: 1970-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z, the ones ISO 8601 with a four-digit year writes
// (`attempts --json`). A record with another time is damage.
inline constexpr int64_t kMinRecordTime = 0;
inline constexpr int64_t kMaxRecordTime = 253'402'300'799;

// CRC-32 (IEEE 802.3, as zlib's crc32) of `data`.
uint32_t Crc32(std::string_view data);

// Appends the record of `a` to *out: fields longer than kMaxFieldBytes are
// cut to it. False with *err set when a.result is not "failure", "success"
// or "refused", or a.time is out of [kMinRecordTime, kMaxRecordTime]
// (nothing appended).
bool EncodeRecord(const Attempt& a, std::string* out, std::string* err);

struct JournalScan {
  int64_t records = 0;        // Valid records found.
  int64_t skipped_bytes = 0;  // Bytes of damaged records and a torn tail.
};

// Reads the records of `data` (a whole journal file) in order, calling
// `record` for each valid one. Bytes that do not form a valid record (bad
// magic, length, field length, result, time or CRC, or cut short at the
// end) are skipped up to the next magic and counted. Never reads out of
// `data`, whatever it holds.
JournalScan ScanJournal(std::string_view data,
                        const std::function<void(const Attempt&)>& record);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_JOURNAL_RECORD_H_
