#include "tests/support/pam_conversation.h"

#include <cstdlib>
#include <cstring>

namespace defender::testing {

int PamConversation::Converse(int n, const pam_message** msg,
                              pam_response** resp, void* appdata) {
  auto* self = static_cast<PamConversation*>(appdata);
  if (n <= 0) return PAM_CONV_ERR;
  auto* replies = static_cast<pam_response*>(
      calloc(static_cast<size_t>(n), sizeof(pam_response)));
  if (replies == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    const std::string text = msg[i]->msg != nullptr ? msg[i]->msg : "";
    self->prompts.push_back(text);
    switch (msg[i]->msg_style) {
      case PAM_PROMPT_ECHO_OFF:
        replies[i].resp =
            strdup((self->ask_password ? self->ask_password() : self->password)
                       .c_str());
        break;
      case PAM_PROMPT_ECHO_ON:
        replies[i].resp = strdup(self->echo_on.c_str());
        break;
      default:
        self->messages.push_back(text);
        if (self->on_message) self->on_message(text);
    }
  }
  *resp = replies;
  return PAM_SUCCESS;
}

}  // namespace defender::testing
