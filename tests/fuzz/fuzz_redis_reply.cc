// The Redis reply handling: arbitrary bytes from the server go through
// hiredis's protocol reader, and every complete reply through the decoders
// of redis_reply.h. No input crashes or hangs; the reader rejects broken
// protocol with an error; each decoder accepts exactly its documented shape
// (checked against the reply independently) and rejects the rest with an
// error message.
#include <hiredis/hiredis.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/redis_reply.h"
#include "fuzz_check.h"

namespace {

void CheckIntArray(const redisReply* r, size_t n) {
  bool want = r->type == REDIS_REPLY_ARRAY && r->elements == n;
  for (size_t i = 0; want && i < n; ++i) {
    want = r->element[i]->type == REDIS_REPLY_INTEGER;
  }
  std::vector<int64_t> out;
  std::string err;
  const bool ok = defender::DecodeIntArray(r, n, &out, &err);
  fuzz::Check(ok == want, "DecodeIntArray accepts exactly n integers");
  if (!ok) {
    fuzz::Check(!err.empty(), "a rejected reply has an error message");
    return;
  }
  fuzz::Check(out.size() == n, "DecodeIntArray returns n values");
  for (size_t i = 0; i < n; ++i) {
    fuzz::Check(out[i] == r->element[i]->integer, "values are kept in order");
  }
}

void CheckInteger(const redisReply* r) {
  int64_t v = 0;
  std::string err;
  const bool ok = defender::DecodeInteger(r, &v, &err);
  fuzz::Check(ok == (r->type == REDIS_REPLY_INTEGER),
              "DecodeInteger accepts exactly an integer");
  if (ok) {
    fuzz::Check(v == r->integer, "the integer is kept");
  } else {
    fuzz::Check(!err.empty(), "a rejected reply has an error message");
  }
}

void CheckScan(const redisReply* r) {
  std::string cursor;
  std::vector<std::string> keys;
  std::string err;
  const bool ok = defender::DecodeScan(r, &cursor, &keys, &err);
  if (!ok) {
    fuzz::Check(!err.empty(), "a rejected reply has an error message");
    return;
  }
  fuzz::Check(r->type == REDIS_REPLY_ARRAY && r->elements == 2,
              "a SCAN reply is a pair");
  fuzz::Check(!cursor.empty() && cursor.size() <= 20,
              "a SCAN cursor has 1 to 20 characters");
  for (const char c : cursor) {
    fuzz::Check(c >= '0' && c <= '9', "a SCAN cursor is decimal");
  }
  const redisReply* batch = r->element[1];
  fuzz::Check(
      batch->type == REDIS_REPLY_ARRAY && keys.size() == batch->elements,
      "every key of the batch is returned");
  for (size_t i = 0; i < keys.size(); ++i) {
    const redisReply* k = batch->element[i];
    fuzz::Check(
        k->type == REDIS_REPLY_STRING && keys[i] == std::string(k->str, k->len),
        "keys are bulk strings copied byte for byte");
  }
}

void CheckReply(const redisReply* r) {
  CheckInteger(r);
  CheckScan(r);
  for (const size_t n : {size_t{0}, size_t{1}, size_t{3}, size_t{4}}) {
    CheckIntArray(r, n);
  }
  if (r->type == REDIS_REPLY_ARRAY) {
    CheckIntArray(r, r->elements);
    CheckIntArray(r, r->elements + 1);
    for (size_t i = 0; i < r->elements; ++i) CheckReply(r->element[i]);
  }
}

// hiredis 0.14 allocates a multi-bulk array for its announced count before
// the elements arrive (bounded by SIZE_MAX since CVE-2021-32765), so a count
// in the billions is a large allocation that libFuzzer's malloc limit would
// report as a crash. Counts of 7 or more digits are left out.
bool HugeArrayCount(const uint8_t* data, size_t size) {
  size_t digits = 0;
  bool after_star = false;
  for (size_t i = 0; i < size; ++i) {
    const uint8_t c = data[i];
    if (c == '*') {
      after_star = true;
      digits = 0;
    } else if (after_star && c >= '0' && c <= '9') {
      if (++digits >= 7) return true;
    } else if (!(after_star && c == '-' && digits == 0)) {
      after_star = false;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (HugeArrayCount(data, size)) return 0;
  redisReader* reader = redisReaderCreate();
  fuzz::Check(reader != nullptr, "a reader is created");
  if (redisReaderFeed(reader, reinterpret_cast<const char*>(data), size) !=
      REDIS_OK) {
    fuzz::Fail("the reader takes any bytes");
  }
  for (;;) {
    void* reply = nullptr;
    if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
      fuzz::Check(reply == nullptr, "broken protocol yields no reply");
      fuzz::Check(reader->err != 0 && reader->errstr[0] != '\0',
                  "broken protocol is an error with a message");
      break;
    }
    if (reply == nullptr) break;  // Incomplete: wait for more bytes.
    CheckReply(static_cast<const redisReply*>(reply));
    freeReplyObject(reply);
  }
  redisReaderFree(reader);
  return 0;
}
