// Decoding of the Redis replies the store relies on (the store script of
// redis_script.lua and SCAN) into plain values. Pure functions: no I/O, no
// allocation beyond the outputs, never throw. Each accepts exactly the
// documented shape; any other reply (an error reply, a nil, a wrong type or
// count, nested arrays where scalars belong) is rejected: the function
// returns false, sets *err to a short fixed message and leaves the outputs
// unspecified. `r` may be any reply hiredis builds, but not nullptr.
#ifndef PAM_DEFENDER_COMMON_REDIS_REPLY_H_
#define PAM_DEFENDER_COMMON_REDIS_REPLY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct redisReply;

namespace defender {

// An array of exactly `n` integers (script ops get, fail, success,
// unblock), copied to *out in order.
bool DecodeIntArray(const redisReply* r, size_t n, std::vector<int64_t>* out,
                    std::string* err);

// A single integer (script ops history and prune).
bool DecodeInteger(const redisReply* r, int64_t* out, std::string* err);

// A SCAN reply: a two-element array of the next cursor (1 to 20 decimal
// digits, "0" when the walk is done) and an array of keys (bulk strings,
// copied byte for byte, embedded NULs included).
bool DecodeScan(const redisReply* r, std::string* cursor,
                std::vector<std::string>* keys, std::string* err);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_REDIS_REPLY_H_
