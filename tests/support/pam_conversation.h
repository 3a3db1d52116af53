// The PAM conversation of the tests that drive libpam in-process
// (pam_start_confdir): it answers the prompts like a user at a terminal
// and records what the modules said.
#ifndef DEFENDER_TESTS_SUPPORT_PAM_CONVERSATION_H_
#define DEFENDER_TESTS_SUPPORT_PAM_CONVERSATION_H_

#include <security/pam_appl.h>

#include <functional>
#include <string>
#include <vector>

namespace defender::testing {

// Answers PAM_PROMPT_ECHO_OFF with `password` and PAM_PROMPT_ECHO_ON (a
// user-name prompt) with `echo_on`; appends the text of every message to
// `prompts` and that of every other style (PAM_TEXT_INFO, PAM_ERROR_MSG)
// to `messages`. The answers are read at each call, so a test may change
// them between the steps of one handle. pam_start copies the pam_conv that
// conv() returns, but it points at this object, which must outlive the
// handle.
class PamConversation {
 public:
  explicit PamConversation(std::string password = "")
      : password(password), echo_on(std::move(password)) {}
  PamConversation(const PamConversation&) = delete;
  PamConversation& operator=(const PamConversation&) = delete;

  pam_conv conv() { return {&Converse, this}; }

  std::string password;
  std::string echo_on;
  // When set, answers PAM_PROMPT_ECHO_OFF instead of `password` (it may
  // block: see HeldLogin).
  std::function<std::string()> ask_password;
  // When set, called with each message that is not a prompt, while the
  // module that sent it is running (a test looks at the process then).
  std::function<void(const std::string&)> on_message;
  std::vector<std::string> prompts;
  std::vector<std::string> messages;

 private:
  static int Converse(int n, const pam_message** msg, pam_response** resp,
                      void* appdata);
};

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_PAM_CONVERSATION_H_
