#include "common/policy.h"

#include <algorithm>

#include "common/format.h"
#include "common/normalize.h"
#include "common/remember.h"
#include "common/store_logic.h"

namespace defender {
namespace {

bool MatchesAny(const std::vector<Cidr>& nets, const std::optional<Host>& h) {
  if (!h || !h->ip) return false;
  return std::any_of(nets.begin(), nets.end(),
                     [&](const Cidr& n) { return n.Contains(*h->ip); });
}

// Appends "KIND NAME" ("user alice", "host 192.0.2.1"). Names in a reason
// are written as tables and log lines show them (DisplayName): a reason is a
// sentence, and a name with a blank must not read as more of it.
void AppendDescription(const Subject& s, std::string* out) {
  *out += KindName(s.kind);
  *out += ' ';
  *out += DisplayName(s.name);
}

// The sentence of AllowedReason for a blocked user's remembered host: kept
// out of the code every login runs (DESIGN §7).
[[gnu::cold, gnu::noinline]] std::string RememberedHostReason(
    const AttemptSubjects& who, const std::vector<SubjectState>& states,
    size_t pair, const std::string& user, const std::string& host) {
  return "allowed: user " + DisplayName(user) + " is blocked but " +
         DisplayName(host) + " is a remembered host: pair " +
         DisplayName(who.subjects[pair].name) + " has " +
         std::to_string(states[pair].failures) + " failure(s), limit " +
         std::to_string(who.limits[pair]);
}

// "allowed", or why a blocked user does not refuse an attempt from one of
// its remembered hosts (doc/DESIGN.md §3.14). Inlined, as CheckStates is:
// Check, which every login runs, keeps it in place although KeyLoginAccount
// uses it too (the code a login runs must fit the first 64 KB of the
// module's code, DESIGN §7).
[[gnu::always_inline]] inline std::string AllowedReason(
    const AttemptSubjects& who, const std::vector<SubjectState>& states) {
  const std::optional<size_t> pair = PairIndex(who.subjects);
  std::string user;
  std::string host;
  if (!pair || !SplitPair(who.subjects[*pair].name, &user, &host)) {
    return "allowed";
  }
  for (size_t i = 0; i < states.size(); ++i) {
    if (who.subjects[i].kind == SubjectKind::kUser && states[i].exempt &&
        states[i].blocked) {
      return RememberedHostReason(who, states, *pair, user, host);
    }
  }
  return "allowed";
}

}  // namespace

LockoutParams Policy::Params() const {
  return LockoutParams{cfg_.AttemptCooloff(), cfg_.LockoutCooloffs(),
                       cfg_.HistorySeconds()};
}

AttemptSubjects Policy::Classify(const Login& login) const {
  AttemptSubjects who;
  who.user = login.user;
  who.host = login.host;
  who.host_denied = MatchesAny(cfg_.deny_hosts, who.host);

  if (who.host && MatchesAny(cfg_.allow_hosts, who.host)) {
    // doc/DESIGN.md §3.7: an attempt from an allow-listed host has no
    // subject: never counted, never refused by any block (like fail2ban's
    // ignoreip), and its success resets nothing.
    who.rule = RefusalRule::kNever;
    return who;
  }
  who.subjects.reserve(3);  // A user, a host and their pair at most.
  who.limits.reserve(3);
  if (who.user && !cfg_.disable_user_lockout) {
    const bool root = *who.user == "root" && !cfg_.even_deny_root;
    const bool allowed = std::any_of(
        cfg_.allow_users.begin(), cfg_.allow_users.end(),
        [&](const std::string& u) {
          return NormalizeUser(u, cfg_.fold_username_case) == who.user;
        });
    // An exempt user is never counted; in by_user_and_host mode the host
    // then decides alone, as the user does for a login without a host.
    if (!root && !allowed) {
      who.subjects.push_back(Subject{SubjectKind::kUser, *who.user});
      who.limits.push_back(cfg_.FailureLimitUser());
    }
  }
  const bool user_counted = !who.subjects.empty();
  if (who.host && !cfg_.disable_host_lockout) {
    who.subjects.push_back(Subject{SubjectKind::kHost, who.host->subject});
    who.limits.push_back(cfg_.FailureLimitHost());
  }
  // A remote host named like the local origin could pass for another
  // pair: such an attempt has no pair, and its user decides as without the
  // feature (a host name holds no '@', EscapeHostName writes it "%40", so
  // none splits a pair elsewhere). So has su run by another local user:
  // the local origin is the owner's only when the owner runs the program
  // (Login).
  const bool pairable =
      !who.host ? !login.other_local_caller : who.host->subject != kLocalOrigin;
  if (user_counted && pairable && cfg_.remember_hosts_days > 0) {
    // doc/DESIGN.md §3.14: the pair takes the user's place in the refusal
    // when the host is one the user is remembered at; the store decides
    // which of the two is exempt in the same step.
    who.subjects.push_back(Subject{
        SubjectKind::kPair,
        PairName(*who.user, who.host ? std::string_view(who.host->subject)
                                     : kLocalOrigin)});
    who.limits.push_back(cfg_.FailureLimitPair());
  }
  if (cfg_.by_user_and_host) who.rule = RefusalRule::kAll;  // Both blocked.
  return who;
}

void Policy::Refuse(const AttemptSubjects& who,
                    const std::vector<SubjectState>& states,
                    Decision* d) const {
  d->refused = true;
  const int64_t now = clock_.Now();
  // Under kAny the attempt is refused until the longest block ends; under
  // kAll only until the first one ends. Permanent blocks never end.
  const bool until_first = who.rule == RefusalRule::kAll;
  for (size_t i = 0; i < states.size(); ++i) {
    const SubjectState& s = states[i];
    if (!s.blocked || s.exempt) continue;
    bool pick = !d->refused_by;
    if (!pick && until_first) {
      pick = d->permanent
                 ? !s.permanent()
                 : !s.permanent() && s.Remaining(now) < d->remaining_seconds;
    } else if (!pick) {
      pick = !d->permanent &&
             (s.permanent() || s.Remaining(now) > d->remaining_seconds);
    }
    if (pick) {
      d->refused_by = who.subjects[i];
      d->permanent = s.permanent();
      d->remaining_seconds = s.Remaining(now);
      d->failure_limit = who.limits[i];
    }
  }
  if (d->refused_by) {
    // Built in place: one allocation for most names.
    std::string& r = d->reason;
    r.clear();
    r.reserve(64 + d->refused_by->name.size());
    AppendDescription(*d->refused_by, &r);
    r += " is blocked ";
    if (d->permanent) {
      r += "permanently";
    } else {
      r += "for ";
      r += FormatDuration(d->remaining_seconds);
    }
  }
}

void Policy::Log(const Login& login, const char* result, Decision* d) {
  if (log_ == nullptr) return;
  const AttemptSubjects& who = d->who;
  Attempt a;
  a.time = clock_.Now();
  a.service = login.service;
  a.user = who.user.value_or("");
  a.host = who.host ? who.host->subject : "";
  a.tty = login.tty;
  a.result = result;
  if (log_->Append(a, &d->log_error)) d->logged = result;
}

namespace {

// Kept out of the code every login runs (DESIGN §7).
[[gnu::cold, gnu::noinline]] void RefuseDenied(const AttemptSubjects& who,
                                               Decision* d) {
  d->refused = true;
  d->permanent = true;
  d->refused_by = Subject{SubjectKind::kHost, who.host->subject};
  d->reason = "host " + DisplayName(who.host->subject) + " is in deny_hosts";
}

}  // namespace

bool Policy::RefusedAsDenied(const Login& login, bool log_attempt,
                             Decision* d) {
  *d = Decision{};
  d->who = Classify(login);
  if (!d->who.host_denied) return false;
  RefuseDenied(d->who, d);
  if (log_attempt) Log(login, "refused", d);
  return true;
}

// Inlined into Check, which every login runs (doc/DESIGN.md §7).
[[gnu::always_inline]] inline bool Policy::CheckStates(
    const Login& login, bool log_refusal, Decision* d,
    std::vector<SubjectState>* states, std::string* err) {
  if (RefusedAsDenied(login, log_refusal, d)) return true;
  if (!store_->GetForDecision(d->who.subjects, clock_.Now(), states, err)) {
    return false;
  }
  if (IsRefused(d->who.rule, *states)) Refuse(d->who, *states, d);
  if (!d->refused) d->reason = AllowedReason(d->who, *states);
  if (d->refused && log_refusal) Log(login, "refused", d);
  return true;
}

bool Policy::Check(const Login& login, bool log_refusal, Decision* d,
                   std::string* err) {
  std::vector<SubjectState> states;
  return CheckStates(login, log_refusal, d, &states, err);
}

bool Policy::KeyLoginAccount(const Login& login, bool log_refusal, Decision* d,
                             std::string* not_remembered, std::string* err) {
  // Decided first as Check decides, reading without locks: a host
  // remembered already needs no write (nor a wait for a record's lock that
  // a stopped su holds).
  std::vector<SubjectState> states;
  if (!CheckStates(login, log_refusal, d, &states, err)) return false;
  const std::vector<Subject>& subjects = d->who.subjects;
  if (d->refused || !PairIndex(subjects)) return true;
  for (size_t i = 0; i < subjects.size(); ++i) {
    if (subjects[i].kind == SubjectKind::kUser && states[i].exempt) {
      return true;  // Remembered: U's state is the exempt one.
    }
  }
  // RecordSuccess resetting nothing: it refuses as Check, or remembers.
  const bool no_reset[3] = {false, false, false};
  bool refused = false;
  if (!store_->RecordSuccess(subjects, {no_reset, subjects.size()}, {},
                             d->who.rule, cfg_.RememberSeconds(), clock_.Now(),
                             &states, &refused, err)) {
    // The decision stands as Check made it.
    *not_remembered = std::move(*err);
    err->clear();
    return true;
  }
  if (refused) {  // Blocked since the read above.
    Refuse(d->who, states, d);
    if (log_refusal) Log(login, "refused", d);
  }
  return true;
}

namespace {

// The generation `provisional` gives `subject` (0: none). Setuid callers
// only: kept out of the code every login runs (doc/DESIGN.md §7).
[[gnu::cold, gnu::noinline]] Generation ProvisionalOf(
    std::span<const ProvisionalCount> provisional, const Subject& subject) {
  for (const ProvisionalCount& c : provisional) {
    if (c.subject == subject) return c.generation;
  }
  return 0;
}

// Adds to d->counted the subjects that `outcomes` counted on.
[[gnu::cold, gnu::noinline]] void NoteCounted(
    std::span<const FailureRequest> requests,
    std::span<const FailureOutcome> outcomes, Decision* d) {
  d->counted.reserve(outcomes.size());
  for (size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].counted != 0) {
      d->counted.push_back(
          ProvisionalCount{requests[i].subject, outcomes[i].counted});
    }
  }
}

}  // namespace

bool Policy::RecordFailure(const Login& login, FailureMode mode,
                           std::span<const ProvisionalCount> provisional,
                           Decision* d, bool* refused_before,
                           std::string* err) {
  // The caller logs a denied host's attempt with the others.
  *refused_before = RefusedAsDenied(login, /*log_attempt=*/false, d);
  if (*refused_before) return true;
  std::vector<FailureRequest> requests;
  requests.reserve(d->who.subjects.size());
  for (size_t i = 0; i < d->who.subjects.size(); ++i) {
    requests.push_back(FailureRequest{d->who.subjects[i], d->who.limits[i]});
    if (!provisional.empty()) {
      requests.back().provisional =
          ProvisionalOf(provisional, d->who.subjects[i]);
    }
  }
  std::vector<FailureOutcome> outcomes;
  const bool stored =
      store_->RecordFailure(requests, d->who.rule, mode, Params(), clock_.Now(),
                            &outcomes, refused_before, err);
  // A store that failed after writing some records reports the blocks and
  // counts it wrote: the blocks are announced with the error (store.h).
  if (outcomes.size() != requests.size()) outcomes.clear();
  std::vector<SubjectState> states;
  states.reserve(outcomes.size());
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const FailureOutcome& o = outcomes[i];
    states.push_back(o.state);
    if (o.newly_blocked) {
      d->events.push_back(Event{Event::Type::kBlock, requests[i].subject,
                                o.state.until, o.state.failures});
    }
  }
  // The counts a provisional step wrote before the store failed are noted
  // too: its conclusion must not count them again.
  if (mode == FailureMode::kProvisional) NoteCounted(requests, outcomes, d);
  if (!stored) return false;
  if (IsRefused(d->who.rule, states)) Refuse(d->who, states, d);
  return true;
}

bool Policy::AuthFail(const Login& login, bool log_attempt, Decision* d,
                      std::string* err) {
  return Fail(login, log_attempt, FailureMode::kCount, {}, d, err);
}

bool Policy::Conclude(const Login& login, bool log_attempt,
                      std::span<const ProvisionalCount> provisional,
                      Decision* d, std::string* err) {
  return Fail(login, log_attempt, FailureMode::kConclude, provisional, d, err);
}

bool Policy::Fail(const Login& login, bool log_attempt, FailureMode mode,
                  std::span<const ProvisionalCount> provisional, Decision* d,
                  std::string* err) {
  // doc/DESIGN.md §3.15: an attempt that concludes while its subjects
  // are blocked is refused exactly as AuthSucc refuses a correct password,
  // so that right and wrong passwords give the client the same answer.
  // One refused before it was counted (blocked while its password was
  // being checked) is counted on no subject, as a refusal by Check is:
  // counting it on a subject that is not blocked would let the attacker
  // read the verdict from that subject's state. The failure that blocks
  // is counted and refused.
  bool refused_before = false;
  if (!RecordFailure(login, mode, provisional, d, &refused_before, err)) {
    return false;
  }
  if (!d->refused) d->reason = "failure counted";
  if (log_attempt) Log(login, refused_before ? "refused" : "failure", d);
  return true;
}

bool Policy::CountProvisionally(const Login& login, bool log_refusal,
                                Decision* d, std::string* err) {
  // A refusal is decided first without the records' locks (Check): a local
  // user who runs su to a blocked account again and again gets no lock of
  // that account's to hold while su is stopped or frozen.
  if (!Check(login, log_refusal, d, err)) return false;
  if (d->refused) return true;
  *d = Decision{};
  bool refused_before = false;
  if (!RecordFailure(login, FailureMode::kProvisional, {}, d, &refused_before,
                     err)) {
    return false;
  }
  if (!d->refused) d->reason = "allowed, counted provisionally";
  if (d->refused && log_refusal) Log(login, "refused", d);
  return true;
}

bool Policy::AuthSucc(const Login& login, bool log_attempt, Decision* d,
                      std::string* err) {
  return AuthSucc(login, log_attempt, {}, d, err);
}

bool Policy::AuthSucc(const Login& login, bool log_attempt,
                      std::span<const ProvisionalCount> provisional,
                      Decision* d, std::string* err) {
  if (RefusedAsDenied(login, log_attempt, d)) return true;
  // An attempt has at most a user, a host and a pair subject. In
  // by_user_and_host mode only the user and its pair are reset.
  bool reset_flags[3] = {false, false, false};
  for (size_t i = 0; i < d->who.subjects.size(); ++i) {
    reset_flags[i] =
        !cfg_.by_user_and_host || d->who.subjects[i].kind != SubjectKind::kHost;
  }
  const std::span<const bool> reset(reset_flags, d->who.subjects.size());
  Generation back[3] = {0, 0, 0};
  for (size_t i = 0; i < d->who.subjects.size() && !provisional.empty(); ++i) {
    back[i] = ProvisionalOf(provisional, d->who.subjects[i]);
  }
  const std::span<const Generation> take_back(
      back, provisional.empty() ? 0 : d->who.subjects.size());
  std::vector<SubjectState> before;
  bool refused = false;
  if (!store_->RecordSuccess(d->who.subjects, reset, take_back, d->who.rule,
                             cfg_.RememberSeconds(), clock_.Now(), &before,
                             &refused, err)) {
    return false;
  }
  if (refused) {
    Refuse(d->who, before, d);
    if (log_attempt) Log(login, "refused", d);
    return true;
  }
  d->reason = "success";
  for (size_t i = 0; i < before.size(); ++i) {
    if (SuccessResets(d->who.subjects[i], before[i], reset[i]) &&
        before[i].blocked) {
      d->events.push_back(Event{Event::Type::kUnblock, d->who.subjects[i], 0,
                                before[i].failures});
    }
  }
  if (log_attempt) Log(login, "success", d);
  return true;
}

}  // namespace defender
