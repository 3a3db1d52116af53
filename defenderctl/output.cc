#include "defenderctl/output.h"

#include <time.h>

#include <algorithm>

#include "common/format.h"
#include "common/normalize.h"
#include "defenderctl/context.h"

namespace defender::ctl {
namespace {

// Characters, not bytes: subjects may be UTF-8 (normalize.h keeps them
// valid).
size_t Width(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::Add(std::vector<std::string> row) {
  row.resize(headers_.size());
  for (std::string& cell : row) {
    cell = EscapeForDisplay(cell);
    if (cell.empty()) cell.push_back('-');
  }
  rows_.push_back(std::move(row));
}

std::string Table::Render() const {
  std::vector<size_t> widths;
  for (const std::string& h : headers_) widths.push_back(Width(h));
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], Width(row[i]));
    }
  }
  std::string out;
  const auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size())
        out.append(widths[i] - Width(cells[i]) + 2, ' ');
    }
    out += '\n';
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
  return out;
}

std::string LocalTime(int64_t epoch) {
  return FormatTime(epoch, /*local=*/true, "%Y-%m-%d %H:%M:%S");
}

std::string LeftText(const SubjectState& s, int64_t now) {
  if (!s.blocked) return "-";
  if (s.permanent()) return "permanent";
  return FormatDuration(s.Remaining(now));
}

std::string ShellWord(std::string_view text) {
  constexpr std::string_view kPlain =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
      "._:/@%+=,-";
  if (!text.empty() && text.find_first_not_of(kPlain) == std::string::npos) {
    return std::string(text);
  }
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string Describe(const Subject& s) {
  return std::string(KindName(s.kind)) + " " + DisplayName(s.name);
}

void PrintJson(const Json& value) {
  // Subjects are valid UTF-8 with no hidden code point (normalize.h), but a
  // store may hold anything: `replace` keeps the output valid JSON, and
  // EscapeJsonHidden writes the hidden code points as \uXXXX.
  PrintOut(EscapeJsonHidden(
               value.dump(2, ' ', false, Json::error_handler_t::replace)) +
           "\n");
}

void PrintResult(const Context& ctx, const Json& json,
                 const std::string& text) {
  if (ctx.json()) {
    PrintJson(json);
  } else {
    PrintOut(text);
  }
}

Json StateJson(const Subject& subject, const SubjectState& state, int64_t now) {
  Json o;
  o["kind"] = KindName(subject.kind);
  o["subject"] = subject.name;
  o["failures"] = state.failures;
  const bool timed = state.blocked && !state.permanent();
  o["until"] = timed ? Json(state.until) : Json(nullptr);
  o["remaining_seconds"] = timed ? Json(state.Remaining(now)) : Json(nullptr);
  o["permanent"] = state.permanent();
  o["blocked"] = state.blocked;
  return o;
}

}  // namespace defender::ctl
