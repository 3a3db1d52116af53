#include "defenderctl/nft.h"

#include <nftables/libnftables.h>

namespace defender::ctl {

Nft::Nft() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
  if (ctx_) {
    nft_ctx_buffer_output(ctx_);
    nft_ctx_buffer_error(ctx_);
  }
}

Nft::~Nft() {
  if (ctx_) nft_ctx_free(ctx_);
}

bool Nft::Run(const std::string& commands, Output output, std::string* out,
              std::string* err) {
  if (!ctx_) {
    *err = "cannot create an nftables context";
    return false;
  }
  nft_ctx_output_set_flags(ctx_,
                           output == Output::kText ? 0u
                           : output == Output::kJson
                               ? NFT_CTX_OUTPUT_JSON
                               : NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_TERSE);
  const int rc = nft_run_cmd_from_buffer(ctx_, commands.c_str());
  const char* o = nft_ctx_get_output_buffer(ctx_);
  const char* e = nft_ctx_get_error_buffer(ctx_);
  if (out) *out = o ? o : "";
  if (rc != 0) {
    *err = e && *e ? e : "nftables command failed";
    while (!err->empty() && err->back() == '\n') err->pop_back();
    return false;
  }
  return true;
}

}  // namespace defender::ctl
