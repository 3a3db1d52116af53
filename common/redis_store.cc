#include "common/redis_store.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <tuple>

#include "common/normalize.h"
#include "common/redis_reply.h"
#include "common/redis_url.h"
#include "common/store_logic.h"
#include "redis_script.h"

namespace defender {
namespace {

bool KeepByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || strchr("._@:/+=-", c) != nullptr;
}

std::string EscapeName(std::string_view name) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c != 0 && KeepByte(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// The inverse of EscapeName: false for text EscapeName never writes.
bool UnescapeName(std::string_view in, std::string* out) {
  return PercentDecode(in, out, KeepByte, /*upper_only=*/true);
}

// Escapes glob characters for SCAN MATCH.
std::string GlobEscape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (strchr("*?[]\\", c) != nullptr) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string Int(int64_t v) { return std::to_string(v); }

const char* RuleName(RefusalRule r) {
  switch (r) {
    case RefusalRule::kAny:
      return "any";
    case RefusalRule::kAll:
      return "all";
    case RefusalRule::kNever:
      break;
  }
  return "never";
}

const char* ModeName(FailureMode m) {
  switch (m) {
    case FailureMode::kCount:
      break;
    case FailureMode::kProvisional:
      return "provisional";
    case FailureMode::kConclude:
      return "conclude";
  }
  return "count";
}

// The largest time (epoch seconds) or count taken from a reply: a server
// that sends more (or a clock at or below 0) is not believed, so that
// moving a time between the two clocks cannot overflow. (Any client with
// the store's password can write what the script reads.)
constexpr int64_t kMaxServerTime = int64_t{1} << 40;

// A count from a reply, brought into [0, kMaxServerTime].
int64_t CountFrom(int64_t n) {
  return std::clamp<int64_t>(n, 0, kMaxServerTime);
}

// The state at v[i..i+2] (failures, blocked, until on the script's clock),
// its until moved to the caller's clock by `offset` (|offset| is below
// kMaxServerTime: EvalInts). A block whose end is not a time in range is
// read as lasting to kMaxServerTime; a block end never reads as 0
// (permanent) or before 1.
SubjectState StateAt(const std::vector<int64_t>& v, size_t i, int64_t offset) {
  int64_t until = v[i + 2];
  if (until != 0) {
    if (until < 1 || until > kMaxServerTime) until = kMaxServerTime;
    until = std::max<int64_t>(until + offset, 1);
  }
  return SubjectState{CountFrom(v[i]), v[i + 1] != 0, until};
}

// StateAt with the exempt flag at v[exempt].
SubjectState StateAt(const std::vector<int64_t>& v, size_t i, int64_t offset,
                     size_t exempt) {
  SubjectState s = StateAt(v, i, offset);
  s.exempt = v[exempt] != 0;
  return s;
}

bool SortedBefore(const Subject& a, const Subject& b) {
  if (a.kind != b.kind) return a.kind < b.kind;
  return a.name < b.name;
}

// The remembered-hosts arguments of a call without a pair. Constant data,
// not a std::vector: nothing of the module may run when it is loaded.
constexpr std::string_view kNoPair[] = {"0", "0", "", "0"};

constexpr size_t kScanCount = 500;

}  // namespace

RedisStore::RedisStore(RedisConnection* conn, RedisStoreOptions options)
    : conn_(conn), options_(std::move(options)) {}

bool RedisStore::ValidPrefix(std::string_view prefix, std::string* err) {
  if (prefix.empty()) {
    *err = "store.key_prefix must not be empty with the redis backend";
    return false;
  }
  for (const char ch : prefix) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c == 0x7f || c == '{' || c == '}') {
      *err =
          "store.key_prefix must not contain braces, spaces or control "
          "characters";
      return false;
    }
  }
  return true;
}

std::string RedisStore::RecordKey(const Subject& s) const {
  return options_.key_prefix + ":{" + KindName(s.kind) + ":" +
         EscapeName(s.name) + "}:s";
}

std::string RedisStore::HistoryKey(const Subject& s) const {
  return options_.key_prefix + ":{" + KindName(s.kind) + ":" +
         EscapeName(s.name) + "}:h";
}

std::string RedisStore::RememberKey(std::string_view user) const {
  return options_.key_prefix + ":{remember:" + EscapeName(user) + "}:r";
}

void RedisStore::AddRemember(std::span<const Subject> subjects,
                             int64_t remember_seconds,
                             std::vector<std::string>* keys,
                             std::vector<std::string>* args) const {
  std::string user;
  std::string host;
  if (!PairOf(subjects, &user, &host)) {
    args->insert(args->end(), std::begin(kNoPair), std::end(kNoPair));
    return;
  }
  size_t user_index = 0;
  for (size_t i = 0; i < subjects.size(); ++i) {
    if (subjects[i].kind == SubjectKind::kUser && subjects[i].name == user) {
      user_index = i + 1;
    }
  }
  keys->push_back(RememberKey(user));
  args->insert(args->end(),
               {Int(static_cast<int64_t>(user_index)),
                Int(static_cast<int64_t>(*PairIndex(subjects) + 1)), host,
                Int(remember_seconds)});
}

bool RedisStore::ParseKey(std::string_view key, Subject* s) const {
  const std::string_view p = options_.key_prefix;
  if (key.size() < p.size() + 6 || key.substr(0, p.size()) != p ||
      key.substr(p.size(), 2) != ":{") {
    return false;
  }
  std::string_view inner = key.substr(p.size() + 2);
  if (inner.size() < 3 || inner.substr(inner.size() - 3, 2) != "}:") {
    return false;
  }
  inner.remove_suffix(3);
  const size_t colon = inner.find(':');
  if (colon == std::string_view::npos) return false;
  const std::optional<SubjectKind> kind = ParseKind(inner.substr(0, colon));
  if (!kind) return false;
  s->kind = *kind;
  return UnescapeName(inner.substr(colon + 1), &s->name);
}

bool RedisStore::Eval(const char* op, int64_t now,
                      const std::vector<std::string>& keys,
                      const std::vector<std::string>& args,
                      RedisReplyPtr* reply, std::string* err) {
  std::vector<std::string> argv = {"EVALSHA", kRedisScriptSha1,
                                   Int(static_cast<int64_t>(keys.size()))};
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), {op, options_.server_clock ? "server" : Int(now),
                           options_.key_prefix + ":events",
                           options_.origin_host, options_.service});
  argv.insert(argv.end(), args.begin(), args.end());
  const RedisConnection::Step step(conn_);  // NOSCRIPT and EVAL included.
  *reply = conn_->Command(argv, err);
  if (*reply && (*reply)->type == REDIS_REPLY_ERROR &&
      std::string_view((*reply)->str, (*reply)->len).starts_with("NOSCRIPT")) {
    // First use on this server: EVAL runs the script and caches it, so the
    // next EVALSHA finds it.
    argv[0] = "EVAL";
    argv[1] = kRedisScript;
    *reply = conn_->Command(argv, err);
  }
  if (!*reply) return false;
  if ((*reply)->type == REDIS_REPLY_ERROR) {
    *err = conn_->server() + ": " + ErrorText(**reply);
    return false;
  }
  return true;
}

bool RedisStore::EvalInts(const char* op, int64_t now,
                          const std::vector<std::string>& keys,
                          const std::vector<std::string>& args, size_t n,
                          std::vector<int64_t>* out, int64_t* offset,
                          std::string* err) {
  RedisReplyPtr r;
  if (!Eval(op, now, keys, args, &r, err) ||
      !DecodeIntArray(r.get(), n + 1, out, err)) {
    return false;
  }
  // The script's clock, last. now is the caller's: a real clock or a
  // test's, within the same range.
  const int64_t server_now = out->back();
  if (server_now <= 0 || server_now > kMaxServerTime) {
    *err = conn_->server() + ": implausible clock in the reply to " + op +
           ": " + std::to_string(server_now);
    return false;
  }
  if (now <= 0 || now > kMaxServerTime) {
    *err = "implausible local clock: " + std::to_string(now);
    return false;
  }
  *offset = now - server_now;
  out->pop_back();
  return true;
}

template <typename Fn>
bool RedisStore::Scan(char type, Fn fn, std::string* err) {
  return ScanKeys(
      GlobEscape(options_.key_prefix) + ":{*}:" + std::string(1, type),
      [&](std::vector<std::string>& batch) {
        std::vector<std::string> keys;
        std::vector<Subject> subjects;
        for (std::string& key : batch) {
          Subject s;
          if (!ParseKey(key, &s)) continue;  // Not ours.
          keys.push_back(std::move(key));
          subjects.push_back(std::move(s));
        }
        return keys.empty() || fn(keys, subjects);
      },
      err);
}

bool RedisStore::WalkExpired(std::string* err) const {
  if (std::chrono::steady_clock::now() < walk_deadline_) return false;
  *err = conn_->server() + ": SCAN did not finish within " +
         std::to_string(options_.walk_timeout_ms) + " ms";
  return true;
}

template <typename Fn>
bool RedisStore::ScanKeys(const std::string& pattern, Fn fn, std::string* err) {
  walk_deadline_ = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(options_.walk_timeout_ms);
  std::string cursor = "0";
  do {
    if (cursor != "0" && WalkExpired(err)) return false;
    RedisReplyPtr r = conn_->Command(
        {"SCAN", cursor, "MATCH", pattern, "COUNT", Int(kScanCount)}, err);
    if (!r) return false;
    if (r->type == REDIS_REPLY_ERROR) {
      *err = conn_->server() + ": " + ErrorText(*r);
      return false;
    }
    std::vector<std::string> batch;
    if (!DecodeScan(r.get(), &cursor, &batch, err)) return false;
    if (!batch.empty() && !fn(batch)) return false;
  } while (cursor != "0");
  return true;
}

bool RedisStore::Get(std::span<const Subject> subjects, int64_t now,
                     std::vector<SubjectState>* out, std::string* err) {
  out->clear();
  if (subjects.empty()) return true;
  std::vector<std::string> keys;
  for (const Subject& s : subjects) keys.push_back(RecordKey(s));
  std::vector<std::string> args;
  // Without a pair, get needs no remembered-hosts arguments.
  if (PairIndex(subjects)) AddRemember(subjects, 0, &keys, &args);
  std::vector<int64_t> v;
  int64_t offset = 0;
  if (!EvalInts("get", now, keys, args, 4 * subjects.size(), &v, &offset,
                err)) {
    return false;
  }
  for (size_t i = 0; i < subjects.size(); ++i) {
    out->push_back(StateAt(v, 4 * i, offset, 4 * i + 3));
  }
  return true;
}

bool RedisStore::RecordFailure(std::span<const FailureRequest> requests,
                               RefusalRule rule, FailureMode mode,
                               const LockoutParams& params, int64_t now,
                               std::vector<FailureOutcome>* out, bool* refused,
                               std::string* err) {
  out->clear();
  *refused = false;
  if (requests.empty()) return true;
  std::vector<std::string> keys;
  std::vector<std::string> args = {
      RuleName(rule), ModeName(mode), Int(params.attempt_ttl),
      Int(params.history_seconds),
      Int(static_cast<int64_t>(params.lockout_lengths.size()))};
  for (const int64_t length : params.lockout_lengths)
    args.push_back(Int(length));
  std::vector<Subject> subjects;
  const std::string fresh = Int(DrawGeneration());
  for (const FailureRequest& req : requests) {
    keys.push_back(RecordKey(req.subject));
    keys.push_back(HistoryKey(req.subject));
    args.insert(args.end(), {Int(req.limit), KindName(req.subject.kind),
                             req.subject.name, Int(req.provisional), fresh});
    subjects.push_back(req.subject);
  }
  AddRemember(subjects, 0, &keys, &args);
  std::vector<int64_t> v;
  int64_t offset = 0;
  if (!EvalInts("fail", now, keys, args, 1 + 6 * requests.size(), &v, &offset,
                err)) {
    return false;
  }
  *refused = v[0] != 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const size_t at = 1 + 6 * i;
    // A generation out of range (written by another client of the store)
    // is none: a conclusion against it counts.
    const int64_t counted = v[at + 5];
    out->push_back(FailureOutcome{
        StateAt(v, at, offset, at + 4), v[at + 3] != 0,
        counted > 0 && counted <= UINT32_MAX ? static_cast<Generation>(counted)
                                             : 0});
  }
  return true;
}

bool RedisStore::RecordSuccess(std::span<const Subject> subjects,
                               std::span<const bool> reset,
                               std::span<const Generation> take_back,
                               RefusalRule rule, int64_t remember_seconds,
                               int64_t now, std::vector<SubjectState>* before,
                               bool* refused, std::string* err) {
  before->clear();
  *refused = false;
  if (subjects.empty()) return true;
  std::vector<std::string> keys;
  std::vector<std::string> args = {RuleName(rule)};
  for (size_t i = 0; i < subjects.size(); ++i) {
    keys.push_back(RecordKey(subjects[i]));
    args.insert(args.end(),
                {reset[i] ? "1" : "0", KindName(subjects[i].kind),
                 subjects[i].name, Int(take_back.empty() ? 0 : take_back[i])});
  }
  AddRemember(subjects, remember_seconds, &keys, &args);
  std::vector<int64_t> v;
  int64_t offset = 0;
  if (!EvalInts("success", now, keys, args, 1 + 4 * subjects.size(), &v,
                &offset, err)) {
    return false;
  }
  *refused = v[0] != 0;
  for (size_t i = 0; i < subjects.size(); ++i) {
    before->push_back(StateAt(v, 1 + 4 * i, offset, 4 + 4 * i));
  }
  return true;
}

bool RedisStore::Block(const Subject& subject, int64_t until, int64_t now,
                       std::string* err) {
  // A length, not a time: the script adds it to the clock that decides.
  std::vector<int64_t> v;
  int64_t offset = 0;
  return EvalInts(
      "block", now, {RecordKey(subject), HistoryKey(subject)},
      {until == 0 ? "forever" : Int(until - now), Int(options_.history_seconds),
       KindName(subject.kind), subject.name},
      1, &v, &offset, err);
}

bool RedisStore::Unblock(const Subject& subject, int64_t now, bool* was_blocked,
                         std::string* err) {
  RedisReplyPtr r;
  std::vector<int64_t> v;
  if (!Eval("unblock", now, {RecordKey(subject)},
            {"0", KindName(subject.kind), subject.name}, &r, err) ||
      !DecodeIntArray(r.get(), 1, &v, err)) {
    return false;
  }
  *was_blocked = v[0] != 0;
  return true;
}

bool RedisStore::UnblockAll(int64_t now, std::vector<Subject>* cleared,
                            std::string* err) {
  cleared->clear();
  const bool ok = Scan(
      's',
      [&](const std::vector<std::string>& keys,
          const std::vector<Subject>& subjects) {
        std::vector<std::string> args = {"1"};
        for (const Subject& s : subjects) {
          args.insert(args.end(), {KindName(s.kind), s.name});
        }
        RedisReplyPtr r;
        std::vector<int64_t> v;
        if (!Eval("unblock", now, keys, args, &r, err) ||
            !DecodeIntArray(r.get(), keys.size(), &v, err)) {
          return false;
        }
        for (size_t i = 0; i < keys.size(); ++i) {
          if (v[i] != 0) cleared->push_back(subjects[i]);
        }
        return true;
      },
      err);
  std::sort(cleared->begin(), cleared->end(), SortedBefore);
  return ok;
}

bool RedisStore::List(int64_t now, bool blocked_only,
                      std::vector<StoreEntry>* out, std::string* err) {
  out->clear();
  const bool ok = Scan(
      's',
      [&](const std::vector<std::string>& keys,
          const std::vector<Subject>& subjects) {
        std::vector<int64_t> v;
        int64_t offset = 0;
        if (!EvalInts("get", now, keys, {}, 4 * keys.size(), &v, &offset,
                      err)) {
          return false;
        }
        for (size_t i = 0; i < keys.size(); ++i) {
          const SubjectState state = StateAt(v, 4 * i, offset);
          const bool live = state.blocked || state.failures > 0;
          if (!live || (blocked_only && !state.blocked)) continue;
          out->push_back(StoreEntry{subjects[i], state});
        }
        return true;
      },
      err);
  // SCAN may return a key twice; keep one entry per subject.
  std::sort(out->begin(), out->end(),
            [](const StoreEntry& a, const StoreEntry& b) {
              return SortedBefore(a.subject, b.subject);
            });
  out->erase(std::unique(out->begin(), out->end(),
                         [](const StoreEntry& a, const StoreEntry& b) {
                           return a.subject == b.subject;
                         }),
             out->end());
  return ok;
}

bool RedisStore::Stats(int64_t now, int64_t history_seconds, StoreStats* out,
                       std::string* err) {
  if (!CountListed(this, now, out, err)) return false;
  return Scan(
      'h',
      [&](const std::vector<std::string>& keys, const std::vector<Subject>&) {
        RedisReplyPtr r;
        int64_t n = 0;
        if (!Eval("history", now, keys, {Int(history_seconds), "0"}, &r, err) ||
            !DecodeInteger(r.get(), &n, err)) {
          return false;
        }
        out->blocks_in_window =
            AddSaturated(out->blocks_in_window, CountFrom(n));
        return true;
      },
      err);
}

bool RedisStore::Prune(int64_t now, int64_t history_seconds, int64_t* removed,
                       std::string* err) {
  *removed = 0;
  const auto run = [&](const char* op, std::vector<std::string> args) {
    return [&, op, args](const std::vector<std::string>& keys,
                         const std::vector<Subject>&) {
      RedisReplyPtr r;
      int64_t n = 0;
      if (!Eval(op, now, keys, args, &r, err) ||
          !DecodeInteger(r.get(), &n, err)) {
        return false;
      }
      *removed = AddSaturated(*removed, CountFrom(n));
      return true;
    };
  };
  // A remembered set's expired entries are those at or before now - 0.
  const auto prune_remembered = run("history", {"0", "1"});
  return Scan('s', run("prune", {}), err) &&
         Scan('h', run("history", {Int(history_seconds), "1"}), err) &&
         ScanKeys(
             GlobEscape(options_.key_prefix) + ":{remember:*}:r",
             [&](std::vector<std::string>& keys) {
               return prune_remembered(keys, {});
             },
             err);
}

bool RedisStore::ListRemembered(int64_t now, std::vector<RememberedEntry>* out,
                                std::string* err) {
  out->clear();
  const std::string head = options_.key_prefix + ":{remember:";
  const bool ok = ScanKeys(
      GlobEscape(options_.key_prefix) + ":{remember:*}:r",
      [&](std::vector<std::string>& keys) {
        for (const std::string& key : keys) {
          std::string user;
          if (key.size() < head.size() + 3 ||
              !UnescapeName(std::string_view(key).substr(
                                head.size(), key.size() - head.size() - 3),
                            &user)) {
            continue;  // Not ours.
          }
          // One command per key: the walk's deadline holds between them.
          if (WalkExpired(err)) return false;
          RedisReplyPtr r = conn_->Command(
              {"ZRANGEBYSCORE", key, "(" + Int(now), "+inf", "WITHSCORES"},
              err);
          if (!r) return false;
          if (r->type == REDIS_REPLY_ERROR) {  // NOPERM, for one.
            *err = conn_->server() + ": " + ErrorText(*r);
            return false;
          }
          if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
            *err = conn_->server() + ": unexpected reply to ZRANGEBYSCORE";
            return false;
          }
          for (size_t i = 0; i + 1 < r->elements; i += 2) {
            const redisReply* host = r->element[i];
            const redisReply* score = r->element[i + 1];
            if (host->type != REDIS_REPLY_STRING ||
                score->type != REDIS_REPLY_STRING) {
              continue;
            }
            long long seen = 0;  // Not a number: 0, long forgotten.
            std::from_chars(score->str, score->str + score->len, seen);
            // Only what was asked for: a score after the `now` sent, in
            // range.
            if (seen <= now || seen > kMaxServerTime) continue;
            out->push_back(
                RememberedEntry{user, std::string(host->str, host->len), seen});
          }
        }
        return true;
      },
      err);
  std::sort(out->begin(), out->end(),
            [](const RememberedEntry& a, const RememberedEntry& b) {
              return std::tie(a.user, a.host) < std::tie(b.user, b.host);
            });
  // SCAN may return a key twice.
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return ok;
}

bool RedisStore::Forget(const std::string& user,
                        const std::optional<std::string>& host, int64_t now,
                        int64_t* removed, std::string* err) {
  RedisReplyPtr r;
  return Eval("forget", now, {RememberKey(user)}, {host.value_or("")}, &r,
              err) &&
         DecodeInteger(r.get(), removed, err);
}

}  // namespace defender
