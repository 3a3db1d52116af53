#include "common/redis_reply.h"

#include <hiredis/hiredis.h>

namespace defender {

bool DecodeIntArray(const redisReply* r, size_t n, std::vector<int64_t>* out,
                    std::string* err) {
  out->clear();
  if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
    *err = "unexpected reply from the store script";
    return false;
  }
  for (size_t i = 0; i < n; ++i) {
    if (r->element[i]->type != REDIS_REPLY_INTEGER) {
      *err = "unexpected reply from the store script";
      return false;
    }
    out->push_back(r->element[i]->integer);
  }
  return true;
}

bool DecodeInteger(const redisReply* r, int64_t* out, std::string* err) {
  if (r->type != REDIS_REPLY_INTEGER) {
    *err = "unexpected reply from the store script";
    return false;
  }
  *out = r->integer;
  return true;
}

bool DecodeScan(const redisReply* r, std::string* cursor,
                std::vector<std::string>* keys, std::string* err) {
  keys->clear();
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_STRING ||
      r->element[1]->type != REDIS_REPLY_ARRAY) {
    *err = "unexpected reply to SCAN";
    return false;
  }
  const redisReply* c = r->element[0];
  if (c->len == 0 || c->len > 20) {
    *err = "bad cursor in reply to SCAN";
    return false;
  }
  for (size_t i = 0; i < c->len; ++i) {
    if (c->str[i] < '0' || c->str[i] > '9') {
      *err = "bad cursor in reply to SCAN";
      return false;
    }
  }
  const redisReply* batch = r->element[1];
  for (size_t i = 0; i < batch->elements; ++i) {
    const redisReply* k = batch->element[i];
    if (k->type != REDIS_REPLY_STRING) {
      *err = "unexpected key in reply to SCAN";
      return false;
    }
    keys->emplace_back(k->str, k->len);
  }
  cursor->assign(c->str, c->len);
  return true;
}

}  // namespace defender
