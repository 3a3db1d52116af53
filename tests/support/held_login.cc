#include "tests/support/held_login.h"

namespace defender::testing {

HeldLogin::HeldLogin(std::function<pam_handle_t*(PamConversation*)> start) {
  talk_.ask_password = [this] {
    std::unique_lock<std::mutex> lock(mu_);
    asked_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return answer_.has_value(); });
    return *answer_;
  };
  thread_ = std::thread(&HeldLogin::Run, this, std::move(start));
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return asked_ || result_.has_value(); });
}

HeldLogin::~HeldLogin() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!answer_) answer_ = "";
  }
  cv_.notify_all();
  thread_.join();
}

void HeldLogin::Run(std::function<pam_handle_t*(PamConversation*)> start) {
  Result r;
  pam_handle_t* pamh = start(&talk_);
  if (pamh != nullptr) {
    r.rc = pam_authenticate(pamh, 0);
    if (r.rc == PAM_SUCCESS) r.rc = pam_acct_mgmt(pamh, 0);
    pam_end(pamh, r.rc);
  }
  std::lock_guard<std::mutex> lock(mu_);
  r.messages = talk_.messages;
  result_ = std::move(r);
  cv_.notify_all();
}

bool HeldLogin::at_prompt() {
  std::lock_guard<std::mutex> lock(mu_);
  return asked_ && !result_;
}

HeldLogin::Result HeldLogin::Answer(const std::string& password) {
  std::unique_lock<std::mutex> lock(mu_);
  answer_ = password;
  cv_.notify_all();
  cv_.wait(lock, [this] { return result_.has_value(); });
  return *result_;
}

}  // namespace defender::testing
