// The lockout policy of doc/DESIGN.md §3: which subjects an attempt has, when
// it is refused, what a failure or a success does. Pure decision logic over
// a Store, an optional AttemptLog and a Clock; never logs, never sees PAM.
#ifndef PAM_DEFENDER_COMMON_POLICY_H_
#define PAM_DEFENDER_COMMON_POLICY_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/attempt_log.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/login.h"
#include "common/store.h"

namespace defender {

// A transition that must be announced (syslog line, hooks, Redis PUBLISH).
struct Event {
  enum class Type { kBlock, kUnblock } type = Type::kBlock;
  Subject subject;
  int64_t until = 0;  // For blocks: end of the block, 0 = permanent.
  int64_t failures = 0;
};

// The subjects of one attempt after exemptions.
struct AttemptSubjects {
  std::optional<std::string> user;  // The Login's user, as it is.
  std::optional<Host> host;         // The Login's host, as it is.
  bool host_denied = false;         // Host is in deny_hosts.
  std::vector<Subject> subjects;    // Counted and checked: user first.
  std::vector<int64_t> limits;      // Failure limit of each subject.
  RefusalRule rule = RefusalRule::kAny;
};

struct Decision {
  bool refused = false;
  // When refused: the subject that refused it and how.
  std::optional<Subject> refused_by;
  bool permanent = false;
  int64_t remaining_seconds = 0;
  int64_t failure_limit = 0;
  // One line for syslog and `defenderctl check`: why it was refused, or
  // what the step did.
  std::string reason;
  // Also when the step returns false: the blocks a store wrote before it
  // failed (Store::RecordFailure) happened, and are announced.
  std::vector<Event> events;
  // The result written to the attempt log (nullptr when nothing was logged).
  const char* logged = nullptr;
  // Set when the attempt could not be logged. The decision stands: a
  // logging failure never turns a refusal into an allow.
  std::string log_error;
  AttemptSubjects who;
  // CountProvisionally only: the subjects it added a failure to, each with
  // its counter's generation (FailureOutcome::counted), which Conclude and
  // AuthSucc need to conclude the attempt. Empty for the other steps.
  std::vector<ProvisionalCount> counted;
};

class Policy {
 public:
  // `log` may be null (attempts.store = false). All must outlive the policy.
  Policy(const Config& cfg, Store* store, AttemptLog* log, const Clock& clock)
      : cfg_(cfg), store_(store), log_(log), clock_(clock) {}

  // Every method takes a Login made by NormalizeLogin (login.h) and uses its
  // fields as they are: the policy never normalises, escapes or cuts them.

  // Classifies the subjects of `login` per the config.
  AttemptSubjects Classify(const Login& login) const;

  // Refuses denied hosts and blocked subjects (preauth, account, check).
  // When refused and `log_refusal`, logs a "refused" attempt. Changes no
  // counter.
  bool Check(const Login& login, bool log_refusal, Decision* d,
             std::string* err);

  // The `enforce` account step of a login that no authsucc of its pass
  // logged: the program authenticated the user some other way (a key, a
  // ticket). Refuses as Check does; a login it allows also has its host
  // remembered for its user (when there is a pair subject: doc/DESIGN.md
  // §3.14), as a correct password does, so that a user who never types a
  // password keeps the places they log in from. A host remembered already
  // is left as it is (no write, no lock: its time is not renewed, which a
  // correct password does). Changes no counter. A
  // store that cannot be written (read-only, a record's lock held) does not
  // fail the step: the decision is Check's, and *not_remembered says why
  // nothing was remembered (else it is left empty).
  bool KeyLoginAccount(const Login& login, bool log_refusal, Decision* d,
                       std::string* not_remembered, std::string* err);

  // A failed password. If the subjects are refused already (blocked while
  // the password was being checked), the decision is refused exactly as
  // AuthSucc's would be and nothing is counted on any subject. Otherwise
  // counts a failure on each subject, blocking those that go above their
  // limit (events are returned), and the decision is refused when this
  // failure blocked them. Logs, when `log_attempt`, "failure", or "refused"
  // for an attempt refused before it was counted (and for a denied host,
  // which is not counted).
  bool AuthFail(const Login& login, bool log_attempt, Decision* d,
                std::string* err);

  // AuthFail for an attempt that CountProvisionally counted already, which
  // counted on the subjects `provisional` (its Decision::counted): a
  // subject whose counter is still the one counted on is not counted again
  // (FailureMode::kConclude) but blocked if above its limit; any other
  // (preauth counted nothing on it, or its counter was reset or ended
  // since) is counted as AuthFail counts. Refuses and logs as AuthFail.
  bool Conclude(const Login& login, bool log_attempt,
                std::span<const ProvisionalCount> provisional, Decision* d,
                std::string* err);

  // Preauth under a setuid caller (doc/DESIGN.md §7), whose user may kill
  // the process before AuthFail: refuses like Check; otherwise counts the
  // attempt on each subject before its password is checked
  // (FailureMode::kProvisional), never blocking on this count, except that
  // a subject whose counter is above its limit already (an attempt counted
  // and never concluded) is blocked now (events are returned) and the
  // attempt refused. Logs a refused attempt when `log_refusal`. The
  // subjects counted on are in d->counted, for Conclude.
  bool CountProvisionally(const Login& login, bool log_refusal, Decision* d,
                          std::string* err);

  // A correct password: refused if blocked; otherwise resets counters and
  // blocks (only the user's in by_user_and_host mode) and logs "success".
  bool AuthSucc(const Login& login, bool log_attempt, Decision* d,
                std::string* err);
  // AuthSucc for an attempt that CountProvisionally counted on the
  // subjects `provisional` (its Decision::counted): on a subject the
  // success does not reset (the host in by_user_and_host mode) whose
  // counter is still the one counted on, that count is taken back, as if
  // the attempt had not been counted there (a success elsewhere never
  // is). Store::RecordSuccess.
  bool AuthSucc(const Login& login, bool log_attempt,
                std::span<const ProvisionalCount> provisional, Decision* d,
                std::string* err);

  LockoutParams Params() const;

 private:
  // Check, which also leaves the states it read in *states (empty when a
  // denied host was refused before any read).
  bool CheckStates(const Login& login, bool log_refusal, Decision* d,
                   std::vector<SubjectState>* states, std::string* err);
  // Classifies `login` and records a failure in `mode` on its subjects;
  // *refused_before: refused before anything was counted (a denied host, or
  // blocked subjects). d->refused when refused before or after.
  // `provisional` as Conclude's (kConclude only).
  bool RecordFailure(const Login& login, FailureMode mode,
                     std::span<const ProvisionalCount> provisional, Decision* d,
                     bool* refused_before, std::string* err);
  // AuthFail and Conclude.
  bool Fail(const Login& login, bool log_attempt, FailureMode mode,
            std::span<const ProvisionalCount> provisional, Decision* d,
            std::string* err);
  void Refuse(const AttemptSubjects& who,
              const std::vector<SubjectState>& states, Decision* d) const;
  // Starts *d afresh with the subjects of `login`. When its host is in
  // deny_hosts, refuses it (logged "refused" when `log_attempt`) and
  // returns true.
  bool RefusedAsDenied(const Login& login, bool log_attempt, Decision* d);
  // Appends the attempt; a failure is recorded in d->log_error.
  void Log(const Login& login, const char* result, Decision* d);

  const Config& cfg_;
  Store* store_;
  AttemptLog* log_;
  const Clock& clock_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_POLICY_H_
