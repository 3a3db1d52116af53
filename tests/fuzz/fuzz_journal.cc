// The attempt journal's record parser (common/journal_record.h): a journal
// file as a crash, a full disk or a hostile local file may leave it.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/journal_record.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t covered = 0;
  const defender::JournalScan scan =
      defender::ScanJournal(in, [&](const defender::Attempt& a) {
        fuzz::Check(a.service.size() <= defender::kMaxFieldBytes &&
                        a.user.size() <= defender::kMaxFieldBytes &&
                        a.host.size() <= defender::kMaxFieldBytes &&
                        a.tty.size() <= defender::kMaxFieldBytes,
                    "fields are bounded");
        fuzz::Check(a.result == "failure" || a.result == "success" ||
                        a.result == "refused",
                    "a known result");
        // The encoding is canonical: the record re-encodes to its bytes.
        std::string again;
        std::string err;
        fuzz::Check(defender::EncodeRecord(a, &again, &err), "re-encodes");
        fuzz::Check(in.substr(covered).size() >= again.size(),
                    "a record lies within the input");
        covered += again.size();
        defender::Attempt back;
        int n = 0;
        defender::ScanJournal(again, [&](const defender::Attempt& b) {
          back = b;
          ++n;
        });
        fuzz::Check(n == 1 && back.time == a.time && back.user == a.user &&
                        back.host == a.host && back.service == a.service &&
                        back.tty == a.tty && back.result == a.result,
                    "round trip");
      });
  fuzz::Check(scan.skipped_bytes >= 0 &&
                  covered + static_cast<size_t>(scan.skipped_bytes) == size,
              "every byte is in a record or counted as skipped");
  return 0;
}
