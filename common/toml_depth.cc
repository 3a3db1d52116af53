#include "common/toml_depth.h"

#include <cstdint>

namespace defender {
namespace {

class Scanner {
 public:
  explicit Scanner(std::string_view t) : t_(t) {}

  bool Run(int* line, std::string* what);

 private:
  bool At(std::string_view s) const { return t_.substr(i_, s.size()) == s; }
  // Skips the string that starts at t_[i_] (a quote of either kind, one or
  // three of them), counting the lines it spans. An unterminated one-line
  // string ends at its line's end (toml++ reports it).
  void SkipString();
  // Skips a table header, `[a.b]` or `[[a.b]]`, counting its key's parts.
  bool SkipHeader();
  bool Part() { return ++parts_ <= kMaxTomlKeyParts; }

  std::string_view t_;
  size_t i_ = 0;
  int line_ = 1;
  int parts_ = 1;  // Of the key being read.
  // Open brackets, innermost last: bit set = inline table, clear = array.
  uint32_t open_ = 0;
  int depth_ = 0;
  bool in_key_ = true;     // Reading a key, not a value.
  bool statement_ = true;  // At the start of a top-level statement.
};

void Scanner::SkipString() {
  const char q = t_[i_];
  const bool basic = q == '"';
  const bool multi = At(basic ? "\"\"\"" : "'''");
  i_ += multi ? 3 : 1;
  while (i_ < t_.size()) {
    const char c = t_[i_];
    if (c == '\n') {
      if (!multi) return;
      ++line_;
    } else if (c == '\\' && basic) {
      if (i_ + 1 < t_.size() && t_[i_ + 1] == '\n') ++line_;
      i_ += 2;
      continue;
    } else if (c == q && (!multi || At(basic ? "\"\"\"" : "'''"))) {
      i_ += multi ? 3 : 1;
      // A multi-line string may end in one or two of its quotes.
      for (int extra = 0; multi && extra < 2 && i_ < t_.size() && t_[i_] == q;
           ++extra) {
        ++i_;
      }
      return;
    }
    ++i_;
  }
}

bool Scanner::SkipHeader() {
  parts_ = 1;
  while (i_ < t_.size() && t_[i_] == '[') ++i_;
  while (i_ < t_.size() && t_[i_] != ']' && t_[i_] != '\n') {
    if (t_[i_] == '"' || t_[i_] == '\'') {
      SkipString();
      continue;
    }
    if (t_[i_] == '.' && !Part()) return false;
    ++i_;
  }
  while (i_ < t_.size() && t_[i_] == ']') ++i_;
  return true;
}

bool Scanner::Run(int* line, std::string* what) {
  const auto fail = [&](const char* why) {
    *line = line_;
    *what = why;
    return false;
  };
  constexpr char kTooManyParts[] = "a key of more than 8 dotted parts";
  constexpr char kTooDeep[] = "arrays or inline tables nested more than 8 deep";
  static_assert(kMaxTomlKeyParts == 8 && kMaxTomlNesting == 8);
  static_assert(kMaxTomlNesting < 32);  // open_'s bits.
  while (i_ < t_.size()) {
    const char c = t_[i_];
    if (c == '\n') {
      ++line_;
      ++i_;
      if (depth_ == 0) {
        in_key_ = true;
        statement_ = true;
        parts_ = 1;
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i_;
      continue;
    }
    if (c == '#') {
      while (i_ < t_.size() && t_[i_] != '\n') ++i_;
      continue;
    }
    if (c == '"' || c == '\'') {
      statement_ = false;
      SkipString();
      continue;
    }
    if (statement_ && c == '[') {
      statement_ = false;
      in_key_ = false;
      if (!SkipHeader()) return fail(kTooManyParts);
      continue;
    }
    statement_ = false;
    const bool in_table = depth_ > 0 && (open_ >> (depth_ - 1) & 1) != 0;
    ++i_;
    if (in_key_) {
      if (c == '.' && !Part()) return fail(kTooManyParts);
      if (c == '=') in_key_ = false;
      if (c == '}' && in_table) {  // An empty inline table.
        --depth_;
        in_key_ = false;
      }
      continue;
    }
    if (c == '[' || c == '{') {
      if (++depth_ > kMaxTomlNesting) return fail(kTooDeep);
      const uint32_t bit = 1u << (depth_ - 1);
      open_ = c == '{' ? open_ | bit : open_ & ~bit;
      if (c == '{') {
        in_key_ = true;
        parts_ = 1;
      }
    } else if ((c == ']' || c == '}') && depth_ > 0) {
      --depth_;
    } else if (c == ',' && in_table) {
      in_key_ = true;
      parts_ = 1;
    }
  }
  return true;
}

}  // namespace

bool CheckTomlDepth(std::string_view text, int* line, std::string* what) {
  return Scanner(text).Run(line, what);
}

}  // namespace defender
