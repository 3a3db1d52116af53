// A login held at its password prompt, as an attacker holds many sshd
// connections open: the PAM handle's pam_authenticate runs in a thread of
// its own and stops when a module asks for the password, after every step
// before the password check (preauth) has run. Answer() then supplies the
// password and returns how the attempt concluded.
#ifndef DEFENDER_TESTS_SUPPORT_HELD_LOGIN_H_
#define DEFENDER_TESTS_SUPPORT_HELD_LOGIN_H_

#include <security/pam_appl.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/pam_conversation.h"

namespace defender::testing {

class HeldLogin {
 public:
  struct Result {
    int rc = -1;                        // pam_authenticate, then acct_mgmt.
    std::vector<std::string> messages;  // PAM_TEXT_INFO / PAM_ERROR_MSG.
    bool operator==(const Result&) const = default;
    friend std::ostream& operator<<(std::ostream& os, const Result& r) {
      os << "{rc " << r.rc << ", messages [";
      for (const std::string& m : r.messages) os << '"' << m << "\" ";
      return os << "]}";
    }
  };

  // `start` makes the handle (pam_start_confdir with the conversation it is
  // given, PAM items set). Returns once the thread waits at the password
  // prompt, or once it concluded without asking (e.g. refused by preauth).
  explicit HeldLogin(std::function<pam_handle_t*(PamConversation*)> start);
  // Answers the prompt if one is open, joins the thread.
  ~HeldLogin();
  HeldLogin(const HeldLogin&) = delete;
  HeldLogin& operator=(const HeldLogin&) = delete;

  // True while the login waits for its password.
  bool at_prompt();
  // Gives `password` and waits for the login to conclude.
  Result Answer(const std::string& password);

 private:
  void Run(std::function<pam_handle_t*(PamConversation*)> start);

  PamConversation talk_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool asked_ = false;
  std::optional<std::string> answer_;
  std::optional<Result> result_;
  std::thread thread_;
};

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_HELD_LOGIN_H_
