// The on-disk form of one subject of the LocalStore (doc/DESIGN.md §9): its
// file name and its record, a small binary block with a checksum.
//
// A record file holds two slots, at offsets 0 and kSlotBytes, each a
// complete record with a sequence number. A write goes to the slot that
// does not hold the newest valid record, so a write torn by a power loss
// (or a read that races a write) leaves the previous record intact; a read
// takes the valid slot with the newest sequence number. A file with no
// valid slot (garbage) reads as absent.
#ifndef PAM_DEFENDER_COMMON_SUBJECT_RECORD_H_
#define PAM_DEFENDER_COMMON_SUBJECT_RECORD_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/remember.h"
#include "common/siphash.h"
#include "common/store_logic.h"
#include "common/subject.h"

namespace defender {

// Layout of a slot (little-endian): magic "PDSR", version (2), kind char,
// flags (1: counter or block present, 2: blocked), history length, sequence
// number (u32), name length (u16), remembered hosts count (u8), a zero byte
// (the previous release counted pending attempts there), failures (i64),
// expires (i64), the history (i64 each, oldest first), the name, the
// remembered hosts (until i64, host length u16, host each), the first 8
// bytes of SipHash-2-4-128 of everything before them under a zero key, and
// a trailer: the counter's generation (u32, StoredRecord::generation) and
// the first 8 bytes of SipHash-2-4-128 of the checksum and the generation.
// A reader of the previous release ignores the trailer (it reads up to the
// checksum), so records stay readable both ways while a package upgrade
// leaves old and new modules running; a record its writer left without a
// trailer, or with bytes of an older record after it, reads with
// generation 0. A version 1 slot (before remembered hosts: the count byte
// was zero) decodes with no remembered host; any other version, or a slot
// whose checksum does not hold, is not valid.
inline constexpr size_t kSlotBytes = 2048;
inline constexpr size_t kRecordFileMaxBytes = 2 * kSlotBytes;
// Block history entries kept per subject (the newest). Config caps the
// lockout_cooloff_time list at this length, so the index of the next block
// length, min(blocks in the window, length - 1), is always exact.
inline constexpr size_t kMaxHistory = 64;
// Longest subject name a record holds (subjects are at most
// kMaxSubjectBytes; a user@host pair at most twice that and one byte).
inline constexpr size_t kMaxRecordName = 1024;
// File names up to this length are "<kind>-<hex of the name>"; longer ones
// would be, so the name is hashed instead ("<kind>~<32 hex>").
inline constexpr size_t kMaxPlainFileName = 200;
// Longest remembered host a record holds (host subjects are at most
// kMaxSubjectBytes).
inline constexpr size_t kMaxRememberedHost = 256;
// Largest failure count a valid slot holds (far above any failure_limit):
// a slot with a negative or larger count (damaged, or hand-made) is not
// valid, so that counting on it can never overflow.
inline constexpr int64_t kMaxStoredFailures = int64_t{1} << 40;

struct SubjectRecord {
  SubjectKind kind = SubjectKind::kUser;
  std::string name;
  std::optional<StoredRecord> state;  // The counter or block, if any.
  std::vector<int64_t> history;       // Block times, oldest first.
  // A user's remembered hosts (doc/DESIGN.md §3.14); empty for the others.
  RememberedList remembered;
  uint32_t seq = 0;  // Of the slot it was read from.

  // True when nothing in it matters at `now` with blocks older than
  // `history_since` forgotten: the file can go. A host remembered at `now`
  // matters.
  bool Empty(int64_t now, int64_t history_since) const;
  // Blocks in the history after `since`.
  int64_t BlocksSince(int64_t since) const;
  // Adds a block at `now`, keeping the newest kMaxHistory.
  void AddBlock(int64_t now);
  // Drops a state that is no longer live at `now`, history at or before
  // `history_since` and hosts no longer remembered at `now`; returns how
  // many of them it dropped.
  int64_t Trim(int64_t now, int64_t history_since);
  // Drops the remembered hosts that end first (as RememberHost, ties: the
  // smaller host name) until the record fits a slot (FitsSlot); returns how
  // many it dropped. 16 IP hosts always fit beside a user name of
  // kMaxSubjectBytes and a full history; 16 names of kMaxRememberedHost
  // bytes do not (at most 4 of them do).
  int64_t FitRemembered();
};

// Bytes of the slot EncodeSlot makes of `r`.
size_t EncodedSize(const SubjectRecord& r);
// True when `r` can be encoded: its name, history and remembered hosts
// within their bounds and EncodedSize(r) <= kSlotBytes.
bool FitsSlot(const SubjectRecord& r);

// 'u' for users, 'h' for hosts, 'p' for user@host pairs: the first letter
// of KindName.
char KindChar(SubjectKind kind);

// True when the file name of `name` is its keyed hash.
bool NeedsHashedName(std::string_view name);
// The record file name of a subject. `key` is used only when
// NeedsHashedName(name).
std::string RecordFileName(SubjectKind kind, std::string_view name,
                           const SipKey& key);

// What a directory entry's name says: a plain name carries the subject name,
// a hashed one only its kind. False for names that are no record's.
struct ParsedFileName {
  SubjectKind kind;
  bool hashed;
  std::string name;  // When !hashed.
};
bool ParseRecordFileName(std::string_view file, ParsedFileName* out);

// The bytes of one slot holding `r` with sequence number `seq`. Requires
// FitsSlot(r).
std::string EncodeSlot(const SubjectRecord& r, uint32_t seq);

// Decodes the newest valid slot of a record file's bytes into *out and sets
// *slot to its index (0 or 1). False when no slot is valid.
bool DecodeRecordFile(std::span<const uint8_t> file, SubjectRecord* out,
                      int* slot);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_SUBJECT_RECORD_H_
