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

  // Runs `commands` (nft syntax, one per line) as one atomic batch: either
  // all apply or none. With `json` the output (of list commands) is JSON.
  // Returns false with *err set to nft's message when the batch fails (or
  // the context could not be made: no permission, no netlink).
  bool Run(const std::string& commands, bool json, std::string* out,
           std::string* err);

 private:
  nft_ctx* ctx_;
};

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_NFT_H_
