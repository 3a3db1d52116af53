// One libnftables context (the library behind nft(8)): runs nft command
// text in one transaction, with output and errors captured (nothing is
// printed). defenderctl links libnftables; the PAM module never does.
#ifndef PAM_DEFENDER_DEFENDERCTL_NFT_H_
#define PAM_DEFENDER_DEFENDERCTL_NFT_H_

#include <string>

struct nft_ctx;

namespace defender::ctl {

class Nft {
 public:
  Nft();
  ~Nft();
  Nft(const Nft&) = delete;
  Nft& operator=(const Nft&) = delete;

  // How a list command's output is written.
  enum class Output {
    kText,
    kJson,
    kJsonTerse,  // JSON without the sets' elements (nft -j -t).
  };

  // Runs `commands` (nft syntax, one per line) as one atomic batch: either
  // all apply or none; list commands write `output`. Returns false with
  // *err set to nft's message when the batch fails (or the context could
  // not be made: no permission, no netlink).
  bool Run(const std::string& commands, Output output, std::string* out,
           std::string* err);

 private:
  nft_ctx* ctx_;
};

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_NFT_H_
