#include "common/config_snapshot.h"

#include <cstring>

#include "common/config_keys.h"

namespace defender {
namespace {

using config_internal::KeyDef;
using config_internal::Value;

constexpr char kMagic[8] = {'P', 'D', 'C', 'O', 'N', 'F', 'I', 'G'};
// A bound on list lengths and the key count, far above any real config.
constexpr uint32_t kMaxCount = kMaxListEntries;

uint64_t Fnv1a(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  std::string& bytes() { return out_; }

 private:
  void Le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  std::string out_;
};

// Reads from a byte range; after the first short read every read fails.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U8(uint8_t* v) {
    uint64_t x;
    if (!Le(1, &x)) return false;
    *v = static_cast<uint8_t>(x);
    return true;
  }
  bool U32(uint32_t* v) {
    uint64_t x;
    if (!Le(4, &x)) return false;
    *v = static_cast<uint32_t>(x);
    return true;
  }
  bool U64(uint64_t* v) { return Le(8, v); }
  bool I64(int64_t* v) {
    uint64_t x;
    if (!Le(8, &x)) return false;
    *v = static_cast<int64_t>(x);
    return true;
  }
  bool Str(std::string* s) {
    std::string_view v;
    if (!View(&v)) return false;
    s->assign(v);
    return true;
  }
  // A string as a view into the input.
  bool View(std::string_view* s) {
    uint32_t n;
    if (!U32(&n) || n > in_.size() - pos_) return ok_ = false;
    *s = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // A list count: at most kMaxCount, and no more elements than bytes left.
  bool Count(uint32_t* n) {
    return U32(n) && *n <= kMaxCount && *n <= in_.size() - pos_;
  }
  bool at_end() const { return ok_ && pos_ == in_.size(); }

 private:
  bool Le(size_t n, uint64_t* v) {
    if (!ok_ || in_.size() - pos_ < n) return ok_ = false;
    *v = 0;
    for (size_t i = 0; i < n; ++i) {
      *v |= static_cast<uint64_t>(static_cast<unsigned char>(in_[pos_ + i]))
            << (8 * i);
    }
    pos_ += n;
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void WriteValue(const Value& v, Writer* w) {
  w->U8(static_cast<uint8_t>(v.type));
  switch (v.type) {
    case Value::Type::kInt:
      w->I64(v.i);
      break;
    case Value::Type::kBool:
      w->U8(v.b ? 1 : 0);
      break;
    case Value::Type::kString:
      w->Str(v.s);
      break;
    case Value::Type::kIntList:
      w->U32(static_cast<uint32_t>(v.ints.size()));
      for (int64_t i : v.ints) w->I64(i);
      break;
    case Value::Type::kStringList:
      w->U32(static_cast<uint32_t>(v.strings.size()));
      for (const std::string& s : v.strings) w->Str(s);
      break;
  }
}

bool ReadValue(Reader* r, Value* v) {
  uint8_t type;
  uint32_t n;
  if (!r->U8(&type)) return false;
  switch (type) {
    case static_cast<uint8_t>(Value::Type::kInt):
      v->type = Value::Type::kInt;
      return r->I64(&v->i);
    case static_cast<uint8_t>(Value::Type::kBool): {
      uint8_t b;
      v->type = Value::Type::kBool;
      if (!r->U8(&b) || b > 1) return false;
      v->b = b == 1;
      return true;
    }
    case static_cast<uint8_t>(Value::Type::kString):
      v->type = Value::Type::kString;
      return r->Str(&v->s);
    case static_cast<uint8_t>(Value::Type::kIntList):
      v->type = Value::Type::kIntList;
      if (!r->Count(&n)) return false;
      v->ints.resize(n);
      for (int64_t& i : v->ints) {
        if (!r->I64(&i)) return false;
      }
      return true;
    case static_cast<uint8_t>(Value::Type::kStringList):
      v->type = Value::Type::kStringList;
      if (!r->Count(&n)) return false;
      v->strings.resize(n);
      for (std::string& s : v->strings) {
        if (!r->Str(&s)) return false;
      }
      return true;
  }
  return false;
}

void WriteIdentity(const FileIdentity& id, Writer* w) {
  w->U64(id.dev);
  w->U64(id.ino);
  w->I64(id.size);
  w->I64(id.mtime_sec);
  w->I64(id.mtime_nsec);
  w->I64(id.ctime_sec);
  w->I64(id.ctime_nsec);
}

bool ReadIdentity(Reader* r, FileIdentity* id) {
  return r->U64(&id->dev) && r->U64(&id->ino) && r->I64(&id->size) &&
         r->I64(&id->mtime_sec) && r->I64(&id->mtime_nsec) &&
         r->I64(&id->ctime_sec) && r->I64(&id->ctime_nsec);
}

bool SameValue(const Value& a, const Value& b) {
  return a.type == b.type && a.i == b.i && a.b == b.b && a.s == b.s &&
         a.ints == b.ints && a.strings == b.strings;
}

}  // namespace

FileIdentity FileIdentity::Of(const struct stat& st) {
  FileIdentity id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = st.st_size;
  id.mtime_sec = st.st_mtim.tv_sec;
  id.mtime_nsec = st.st_mtim.tv_nsec;
  id.ctime_sec = st.st_ctim.tv_sec;
  id.ctime_nsec = st.st_ctim.tv_nsec;
  return id;
}

std::string EncodeConfigSnapshot(const ConfigSnapshot& snapshot) {
  Writer w;
  w.bytes().append(kMagic, sizeof kMagic);
  w.U32(kConfigSnapshotVersion);
  w.U32(0);  // The length, filled in below.
  WriteIdentity(snapshot.identity, &w);
  w.Str(snapshot.conf_path);
  w.Str(snapshot.config.source);
  // Only what differs from the built-in defaults, which decoding starts
  // from: each key written costs a SetKey when read.
  const Config defaults;
  std::vector<std::pair<const KeyDef*, Value>> keys;
  for (const KeyDef& key : config_internal::Keys()) {
    Value v, d;
    if (!key.Get(snapshot.config, &v)) continue;
    if (key.Get(defaults, &d) && SameValue(v, d)) continue;
    keys.emplace_back(&key, std::move(v));
  }
  w.U32(static_cast<uint32_t>(keys.size()));
  for (const auto& [key, value] : keys) {
    w.Str(std::string(key->section) + "." + key->name);
    WriteValue(value, &w);
  }
  std::string& out = w.bytes();
  const uint32_t length = static_cast<uint32_t>(out.size() + 8);
  for (int i = 0; i < 4; ++i)
    out[12 + i] = static_cast<char>(length >> (8 * i));
  w.U64(Fnv1a(out));
  return std::move(out);
}

bool DecodeConfigSnapshot(std::string_view bytes, ConfigSnapshot* out,
                          std::string* err) {
  const auto fail = [err](const std::string& why) {
    *err = "bad configuration snapshot: " + why;
    return false;
  };
  if (bytes.size() < 24 || memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return fail("not a snapshot");
  }
  Reader header(bytes.substr(8, 8));
  uint32_t version = 0, length = 0;
  header.U32(&version);
  header.U32(&length);
  if (version != kConfigSnapshotVersion) {
    return fail("format version " + std::to_string(version) + ", expected " +
                std::to_string(kConfigSnapshotVersion));
  }
  if (length != bytes.size() || bytes.size() > kMaxConfigSnapshotSize) {
    return fail("truncated or too long");
  }
  Reader sum(bytes.substr(bytes.size() - 8));
  uint64_t checksum = 0;
  sum.U64(&checksum);
  const std::string_view body = bytes.substr(0, bytes.size() - 8);
  if (checksum != Fnv1a(body)) return fail("checksum mismatch");

  Reader r(body.substr(16));
  uint32_t count = 0;
  if (!ReadIdentity(&r, &out->identity) || !r.Str(&out->conf_path) ||
      !r.Str(&out->config.source) || !r.Count(&count)) {
    return fail("truncated");
  }
  for (uint32_t i = 0; i < count; ++i) {
    std::string_view name;
    Value v;
    if (!r.View(&name) || !ReadValue(&r, &v)) return fail("truncated");
    const size_t dot = name.find('.');
    const KeyDef* key = dot == std::string_view::npos
                            ? nullptr
                            : config_internal::FindKey(name.substr(0, dot),
                                                       name.substr(dot + 1));
    if (key == nullptr)
      return fail("unknown key \"" + EscapeText(name, 80) + "\"");
    std::string reason;
    if (!config_internal::SetKey(*key, v, &out->config, &reason)) {
      return fail(reason);
    }
  }
  if (!r.at_end()) return fail("trailing bytes");
  return true;
}

}  // namespace defender
