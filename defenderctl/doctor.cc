#include "defenderctl/doctor.h"

#include <glob.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "common/config.h"
#include "common/journal.h"
#include "common/normalize.h"
#include "common/store_dir.h"
#include "defenderctl/firewall_guard.h"

namespace defender::ctl {
namespace {

namespace fs = std::filesystem;

constexpr char kPamDir[] = "/etc/pam.d";
// Below this much free space in the store's file system, doctor complains.
constexpr uint64_t kMinFreeBytes = 64ull << 20;

// `path` ("/etc/...") inside `root`.
std::string Under(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return r + path;
}

Finding Problem(std::string key, std::string file, int line,
                std::string message, std::string fix) {
  return Finding{std::move(key), "problem",          std::move(file),
                 line,           std::move(message), std::move(fix)};
}

Finding Note(std::string key, std::string file, int line, std::string message,
             std::string fix) {
  return Finding{std::move(key),     "note",        std::move(file), line,
                 std::move(message), std::move(fix)};
}

// "0755" for st_mode.
std::string OctalMode(mode_t mode) {
  char text[8];
  snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

// ---------------------------------------------------------------------------
// PAM stacks.

struct PamLine {
  int number = 0;
  std::string text;     // The logical line, without its comment (trimmed).
  std::string type;     // "auth", "account", ... (a leading '-' dropped).
  std::string control;  // "required", "[default=die]", ...
  std::string module;   // As written: a name or a path.
  std::vector<std::string> args;
  std::string include;  // For "@include NAME".
};

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// The logical lines of a PAM file, assembled as libpam assembles them
// (_pam_assemble_line): a blank line or one that starts with "#" is
// skipped, even inside a continued line; a "#" ends the line, and a
// backslash after it continues nothing; otherwise a line that ends in a
// backslash (spaces and tabs after it allowed) goes on on the next.
std::vector<PamLine> ReadPamFile(const std::string& path) {
  std::vector<PamLine> out;
  std::ifstream in(path);
  std::string raw;
  std::string line;  // The logical line so far.
  int number = 0;
  int first = 0;  // Its first physical line, 0 before one.
  while (std::getline(in, raw)) {
    ++number;
    const size_t lead = raw.find_first_not_of(" \t");
    if (lead == std::string::npos || raw[lead] == '#') continue;
    if (first == 0) first = number;
    const size_t hash = raw.find('#');
    const std::string part = raw.substr(0, hash);
    const size_t end = part.find_last_not_of(" \t");
    if (hash == std::string::npos && part[end] == '\\') {
      line += part.substr(0, end) + " ";
      continue;
    }
    line += part;
    const std::string body = Trim(line);
    const int at = first;
    line.clear();
    first = 0;
    PamLine l;
    l.number = at;
    l.text = body;
    std::istringstream words(body);
    std::string type;
    words >> type;
    if (type == "@include") {
      words >> l.include;
      out.push_back(l);
      continue;
    }
    l.type = Lower(type[0] == '-' ? type.substr(1) : type);
    std::string control;
    words >> control;
    if (!control.empty() && control[0] == '[') {
      std::string more;
      while (control.find(']') == std::string::npos && words >> more) {
        control += " " + more;
      }
    }
    l.control = control;
    words >> l.module;
    for (std::string a; words >> a;) l.args.push_back(a);
    out.push_back(l);
  }
  return out;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool IsOurs(const PamLine& l, bool alias_too = true) {
  const std::string base = BaseName(l.module);
  return base == "pam_defender.so" || (alias_too && base == "pam_dfndr.so");
}

bool HasArg(const PamLine& l, const std::string& arg) {
  return std::find(l.args.begin(), l.args.end(), arg) != l.args.end();
}

// The step of one of our auth lines: "preauth" (the default), "authfail" or
// "authsucc".
std::string Step(const PamLine& l) {
  for (const char* s : {"authfail", "authsucc", "preauth"}) {
    if (HasArg(l, s)) return s;
  }
  return "preauth";
}

// The files of <root>/etc/pam.d, sorted by name.
std::vector<std::string> PamFiles(const std::string& root) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(Under(root, kPamDir), ec)) {
    if (e.is_regular_file(ec)) names.push_back(e.path().filename());
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool IsCommonFile(const std::string& name) {
  return name.rfind("common-", 0) == 0;
}

// Whether the module file a PAM line names exists under `root`.
bool ModuleExists(const std::string& root, const std::string& module) {
  struct stat st;
  if (!module.empty() && module[0] == '/') {
    return stat(Under(root, module).c_str(), &st) == 0;
  }
  for (const char* dir :
       {"/lib/security", "/lib64/security", "/usr/lib/security",
        "/usr/lib64/security", "/lib/*/security", "/usr/lib/*/security"}) {
    const std::string pattern = Under(root, dir) + "/" + module;
    glob_t g{};
    bool found = false;
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
      // A dangling alias (pam_dfndr.so) is listed too: follow each.
      for (size_t i = 0; i < g.gl_pathc && !found; ++i) {
        found = stat(g.gl_pathv[i], &st) == 0;
      }
    }
    globfree(&g);
    if (found) return true;
  }
  return false;
}

void CheckAuthOrder(const std::string& file, const std::vector<PamLine>& lines,
                    std::vector<Finding>* out) {
  // Indices into `lines` of our auth steps (the first of each).
  std::optional<size_t> pre, fail, succ;
  for (size_t i = 0; i < lines.size(); ++i) {
    const PamLine& l = lines[i];
    if (l.type != "auth" || !IsOurs(l)) continue;
    const std::string step = Step(l);
    std::optional<size_t>& slot = step == "authfail"   ? fail
                                  : step == "authsucc" ? succ
                                                       : pre;
    if (!slot) slot = i;
  }
  if (!pre && !fail && !succ) return;
  const auto line_of = [&](size_t i) { return lines[i].number; };
  if (!pre) {
    out->push_back(Problem(
        "pam.preauth_missing", file, line_of(fail ? *fail : *succ),
        "no \"pam_defender.so preauth\" line: blocked users and hosts reach "
        "the password check",
        "add \"auth requisite pam_defender.so preauth\" before the password "
        "module"));
  } else if (lines[*pre].control != "requisite" &&
             lines[*pre].control != "required") {
    out->push_back(
        Problem("pam.preauth_control", file, line_of(*pre),
                "preauth has control \"" + lines[*pre].control +
                    "\": its refusal would be ignored",
                "use \"requisite\" (or \"required\") for the preauth line"));
  }
  if (!fail) {
    out->push_back(Problem(
        "pam.authfail_missing", file, line_of(*pre),
        "no \"pam_defender.so authfail\" line: failed passwords are never "
        "counted, so nobody is ever blocked",
        "add \"auth [default=die] pam_defender.so authfail\" right after the "
        "password module"));
    return;
  }
  if (pre && *pre > *fail) {
    out->push_back(Problem(
        "pam.preauth_order", file, line_of(*pre),
        "preauth comes after authfail: blocked subjects are not refused "
        "before their password is checked",
        "move the preauth line before the password module"));
  }
  if (lines[*fail].control != "[default=die]") {
    out->push_back(Problem(
        "pam.authfail_control", file, line_of(*fail),
        "authfail has control \"" + lines[*fail].control +
            "\": a failed password may go on to other modules and succeed",
        "use \"[default=die]\" for the authfail line"));
  }
  // The password module: the auth line right before authfail.
  const PamLine* password = nullptr;
  for (size_t i = *fail; i-- > 0;) {
    if (lines[i].type == "auth" || !lines[i].include.empty()) {
      password = &lines[i];
      break;
    }
  }
  if (password == nullptr || IsOurs(*password) || !password->include.empty()) {
    out->push_back(Problem(
        "pam.authfail_order", file, line_of(*fail),
        "authfail does not come right after a password module: it cannot "
        "tell failures from successes",
        "put authfail right after the password module (pam_unix), whose "
        "control is \"[success=1 default=bad]\""));
  } else if (password->control.find("success=1") == std::string::npos) {
    out->push_back(Problem(
        "pam.password_control", file, password->number,
        "the password module before authfail has control \"" +
            password->control +
            "\": a correct password must skip exactly the authfail line",
        "use \"[success=1 default=bad]\" for the password module"));
  }
  if (!succ || *succ != *fail + 1) {
    out->push_back(Problem(
        "pam.authsucc_order", file, line_of(*fail),
        "no \"pam_defender.so authsucc\" line right after authfail: "
        "successes never reset the counters",
        "add \"auth sufficient pam_defender.so authsucc\" right after the "
        "authfail line"));
  } else if (lines[*succ].control != "sufficient") {
    out->push_back(
        Problem("pam.authsucc_control", file, line_of(*succ),
                "authsucc has control \"" + lines[*succ].control + "\"",
                "use \"sufficient\" for the authsucc line, followed by \"auth "
                "required pam_deny.so\""));
  }
}

// `enforce` must come before anything in the account stack that can end it
// early with success: an @include of common-account (whose modules may be
// "sufficient", e.g. sss) or a "sufficient" account line.
void CheckEnforce(const std::string& name, const std::string& file,
                  const std::vector<PamLine>& lines, bool has_auth,
                  std::vector<Finding>* out) {
  std::optional<size_t> enforce;
  std::optional<size_t> ender;
  for (size_t i = 0; i < lines.size(); ++i) {
    const PamLine& l = lines[i];
    if (l.type == "account" && IsOurs(l) && HasArg(l, "enforce")) {
      if (!enforce) enforce = i;
    } else if (!enforce && !ender &&
               (l.include == "common-account" ||
                (l.type == "account" && l.control == "sufficient"))) {
      ender = i;
    }
  }
  if (enforce && ender) {
    out->push_back(Problem(
        "pam.enforce_order", file, lines[*enforce].number,
        "the enforce account line comes after \"" + lines[*ender].text +
            "\" (line " + std::to_string(lines[*ender].number) +
            "), which can end the account stack before it",
        "move \"account required pam_defender.so enforce\" before \"@include "
        "common-account\""));
  }
  if (!enforce && has_auth && name == "sshd") {
    out->push_back(Problem(
        "pam.enforce_missing", file, 0,
        "no \"account required pam_defender.so enforce\" line: key-based ssh "
        "logins of blocked users and from blocked hosts are not refused",
        "add \"account required pam_defender.so enforce\" before \"@include "
        "common-account\""));
  }
}

// True when `lines` include common-auth and it names the module (the
// pam-auth-update profiles are enabled).
bool IncludesProtectedCommonAuth(const std::string& root,
                                 const std::vector<PamLine>& lines) {
  const bool includes =
      std::any_of(lines.begin(), lines.end(), [](const PamLine& l) {
        return l.include == "common-auth" ||
               (l.type == "auth" && l.control == "substack" &&
                l.module == "common-auth");
      });
  if (!includes) return false;
  const std::vector<PamLine> common =
      ReadPamFile(Under(root, std::string(kPamDir) + "/common-auth"));
  return std::any_of(common.begin(), common.end(), [](const PamLine& l) {
    return l.type == "auth" && IsOurs(l);
  });
}

// common-auth as the pam-auth-update profiles leave it: all three steps or
// none. One profile left out (pam-auth-update's checklist makes that easy)
// leaves the others doing nothing useful: without authfail nothing is
// counted, without preauth nothing is refused before the password.
void CheckProfiles(const std::string& file, const std::vector<PamLine>& lines,
                   std::vector<Finding>* out) {
  bool steps[3] = {false, false, false};  // preauth, authfail, authsucc
  int first = 0;
  for (const PamLine& l : lines) {
    if (l.type != "auth" || !IsOurs(l)) continue;
    const std::string step = Step(l);
    steps[step == "authfail" ? 1 : step == "authsucc" ? 2 : 0] = true;
    if (first == 0) first = l.number;
  }
  if (first == 0 || (steps[0] && steps[1] && steps[2])) return;
  std::string missing;
  const char* profile[3] = {"pam_defender", "pam_defender_authfail",
                            "pam_defender_authsucc"};
  for (int i = 0; i < 3; ++i) {
    if (!steps[i])
      missing += std::string(missing.empty() ? "" : ", ") + profile[i];
  }
  out->push_back(Problem(
      "pam.profiles_partial", file, first,
      "only some of the three pam-auth-update profiles are enabled (missing: " +
          missing + "): failures are not counted, or blocks not applied",
      "pam-auth-update --enable pam_defender pam_defender_authfail "
      "pam_defender_authsucc"));
}

// A conf= argument of a PAM line of the module, where it was first seen.
struct ConfRef {
  std::string path;
  std::string file;
  int line = 0;
};

// A line of ours with a conf= file or KEY=VALUE arguments: its step runs
// with a configuration of its own.
struct StackArgs {
  std::string file;
  int line = 0;
  bool preauth = false;      // The stack's first refusal: judged for the
                             // firewall.
  bool fail_closed = false;  // A configuration error refuses every login.
  std::string conf;          // "" for the default file.
  std::vector<std::string> overrides;  // KEY=VALUE, as ApplyOverride takes.
};

void CheckPam(const std::string& root, std::vector<Finding>* out,
              bool* sshd_uses_us, std::vector<ConfRef>* confs,
              std::vector<StackArgs>* stacks) {
  for (const std::string& name : PamFiles(root)) {
    const std::string file = std::string(kPamDir) + "/" + name;
    const std::vector<PamLine> lines = ReadPamFile(Under(root, file));
    bool ours = false;
    for (const PamLine& l : lines) {
      if (!IsOurs(l)) continue;
      ours = true;
      // An account line without enforce returns before it reads any
      // configuration.
      const bool runs = l.type != "account" || HasArg(l, "enforce");
      StackArgs stack{file,
                      l.number,
                      l.type == "auth" && Step(l) == "preauth",
                      HasArg(l, "fail_closed"),
                      "",
                      {}};
      for (const std::string& a : l.args) {
        if (a.find('=') == std::string::npos) continue;
        if (a.rfind("conf=", 0) != 0) {
          stack.overrides.push_back(a);
          continue;
        }
        const std::string path = a.substr(5);
        stack.conf = path;
        if (std::none_of(confs->begin(), confs->end(),
                         [&](const ConfRef& c) { return c.path == path; })) {
          confs->push_back({path, file, l.number});
        }
      }
      if (runs && (!stack.conf.empty() || !stack.overrides.empty())) {
        stacks->push_back(std::move(stack));
      }
      if (!ModuleExists(root, l.module)) {
        out->push_back(Problem(
            "pam.module_missing", file, l.number,
            "\"" + l.text +
                "\" names a module that is not installed: every "
                "login through this service fails",
            "install the pam-defender package again, or remove the line"));
      }
    }
    if (name == "common-auth") CheckProfiles(file, lines, out);
    // pam-auth-update writes common-* and sets their controls itself.
    if (IsCommonFile(name)) continue;
    const bool profiles = IncludesProtectedCommonAuth(root, lines);
    if (name == "sshd") *sshd_uses_us = ours || profiles;
    if (!ours && !(name == "sshd" && profiles)) continue;
    CheckAuthOrder(file, lines, out);
    const bool has_auth = std::any_of(
        lines.begin(), lines.end(),
        [](const PamLine& l) { return l.type == "auth" && IsOurs(l); });
    if (!has_auth && !profiles) {
      out->push_back(Problem(
          "pam.auth_missing", file, 0,
          "the account stack names pam_defender but the auth stack does not "
          "(and no common-auth it includes does): failed passwords are "
          "never counted",
          "enable the profiles: pam-auth-update --enable pam_defender "
          "pam_defender_authfail pam_defender_authsucc"));
    }
    CheckEnforce(name, file, lines, has_auth || profiles, out);
  }
}

// ---------------------------------------------------------------------------
// sshd options.

struct SshdOption {
  std::string value;  // Lower case.
  std::string file;
  int line = 0;
};

// Reads sshd_config as sshd does for the global options: the first value of
// a keyword wins, Include is followed (globs, relative to /etc/ssh), and a
// Match block ends the global part.
void ReadSshd(const std::string& root, const std::string& file, int depth,
              std::vector<std::pair<std::string, SshdOption>>* opts,
              bool* matched) {
  if (depth > 8) return;
  std::ifstream in(Under(root, file));
  std::string raw;
  int number = 0;
  while (!*matched && std::getline(in, raw)) {
    ++number;
    std::string text = Trim(raw.substr(0, raw.find('#')));
    std::replace(text.begin(), text.end(), '=', ' ');
    std::istringstream words(text);
    std::string key, value;
    if (!(words >> key)) continue;
    key = Lower(key);
    if (key == "match") {
      *matched = true;
      return;
    }
    if (key == "include") {
      for (std::string pattern; words >> pattern;) {
        if (pattern[0] != '/') pattern = "/etc/ssh/" + pattern;
        glob_t g{};
        if (glob(Under(root, pattern).c_str(), 0, nullptr, &g) == 0) {
          const size_t prefix = Under(root, "/").size() - 1;
          for (size_t i = 0; i < g.gl_pathc; ++i) {
            ReadSshd(root, std::string(g.gl_pathv[i]).substr(prefix), depth + 1,
                     opts, matched);
          }
        }
        globfree(&g);
      }
      continue;
    }
    words >> value;
    if (key == "challengeresponseauthentication") {
      key = "kbdinteractiveauthentication";
    }
    opts->push_back({key, SshdOption{Lower(value), file, number}});
  }
}

void CheckSshd(const std::string& root, std::vector<Finding>* out) {
  const std::string main = "/etc/ssh/sshd_config";
  std::vector<std::pair<std::string, SshdOption>> opts;
  bool matched = false;
  ReadSshd(root, main, 0, &opts, &matched);
  const auto get = [&](const std::string& key, const char* def) {
    for (const auto& [k, o] : opts) {
      if (k == key) return o;
    }
    return SshdOption{def, main, 0};
  };
  const SshdOption use_pam = get("usepam", "no");
  if (use_pam.value != "yes") {
    out->push_back(Problem(
        "sshd.use_pam", use_pam.file, use_pam.line,
        "sshd runs without PAM (UsePAM " + use_pam.value +
            "): /etc/pam.d/sshd, and pam_defender with it, is never used",
        "set \"UsePAM yes\" in /etc/ssh/sshd_config and restart ssh"));
  }
  const SshdOption kbd = get("kbdinteractiveauthentication", "yes");
  const SshdOption password = get("passwordauthentication", "yes");
  if (kbd.value == "no") {
    out->push_back(Note(
        "sshd.kbd_interactive", kbd.file, kbd.line,
        "KbdInteractiveAuthentication no (Debian's default): a blocked user "
        "sees only \"Permission denied\", never the lockout message",
        "set \"KbdInteractiveAuthentication yes\" to show it (password logins "
        "then go through the PAM conversation)"));
    if (password.value == "no") {
      out->push_back(
          Note("sshd.password_auth", password.file, password.line,
               "password logins are off (PasswordAuthentication no): only the "
               "enforce account step applies, to key-based logins",
               "nothing to fix if that is intended"));
    }
  }
}

// ---------------------------------------------------------------------------
// Configuration, store and cleanup.

std::string StoreDir(const Config& cfg) { return cfg.dir; }

void CheckAdminSession(const Config& cfg, const std::string& file,
                       const std::string& ssh_connection,
                       std::vector<Finding>* out) {
  std::istringstream words(ssh_connection);
  std::string client;
  if (!(words >> client)) return;
  const std::optional<Host> host = NormalizeHost(client, 128);
  if (!host || !host->ip) return;
  for (const Cidr& n : cfg.allow_hosts) {
    if (n.Contains(*host->ip)) return;
  }
  out->push_back(Problem(
      "config.admin_not_allowed", file, 0,
      "your SSH session comes from " + host->subject +
          ", which is not in allow_hosts: a few wrong passwords (yours, or an "
          "attacker's guessing your name) can lock you out",
      "add your management network to [lockout] allow_hosts, e.g. "
      "allow_hosts = [\"" +
          host->subject + "/32\"]"));
}

void CheckStore(const std::string& root, const Config& cfg,
                std::vector<Finding>* out) {
  if (cfg.backend != StoreBackend::kLocal) return;
  const std::string dir = StoreDir(cfg);
  struct stat st;
  if (stat(Under(root, dir).c_str(), &st) != 0) {
    out->push_back(Note(
        "store.missing", dir, 0,
        "the store directory does not exist yet: the first login creates it "
        "(0700, root)",
        "nothing to do; or create it now: install -d -m 0700 " + dir));
    return;
  }
  if (st.st_uid != 0) {
    out->push_back(Problem("store.owner", dir, 0,
                           "the store directory is owned by uid " +
                               std::to_string(st.st_uid) +
                               ", not root: that user can erase every block",
                           "chown root:root " + dir));
  }
  if ((st.st_mode & 077) != 0) {
    const std::string mode = OctalMode(st.st_mode);
    out->push_back(
        Problem("store.mode", dir, 0,
                std::string("the store directory has mode ") + mode +
                    ": other users can read who failed to log in, or change it",
                "chmod 0700 " + dir));
  }
  const std::string key = dir + "/" + kSubjectsDir + "/" + kKeyFile;
  if (lstat(Under(root, key).c_str(), &st) == 0 &&
      (!S_ISREG(st.st_mode) || st.st_size != kStoreKeyBytes)) {
    out->push_back(Problem(
        "store.key", key, 0,
        "the store's key is not a " + std::to_string(kStoreKeyBytes) +
            "-byte file (a power loss, a damaged disk): every login of a "
            "user whose name is over 99 bytes fails its step, and nothing "
            "is counted for it",
        "rm " + key +
            " (the next such login makes a new key; those users' counters "
            "start again)"));
  }
  struct statvfs vfs;
  if (statvfs(Under(root, dir).c_str(), &vfs) == 0 &&
      static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize < kMinFreeBytes) {
    out->push_back(Problem(
        "store.space", dir, 0,
        "less than 64 MiB free for the store: when the disk is full, "
        "failures cannot be recorded",
        "free space on that file system, or lower attempts.expiration_hours"));
  }
}

void CheckCleanup(const std::string& root, std::vector<Finding>* out) {
  struct stat st;
  for (const char* enabled :
       {"/etc/systemd/system/timers.target.wants/defender-cleanup.timer",
        "/etc/cron.d/pam-defender"}) {
    if (stat(Under(root, enabled).c_str(), &st) == 0) return;
  }
  // The package's daily cron file exits at once where systemd runs (the
  // timer's job): it counts only without systemd.
  if (stat(Under(root, "/etc/cron.daily/pam-defender").c_str(), &st) == 0 &&
      stat(Under(root, "/run/systemd/system").c_str(), &st) != 0) {
    return;
  }
  out->push_back(Problem(
      "cleanup.none", "/etc/systemd/system/timers.target.wants", 0,
      "no daily cleanup: the attempt log grows up to its row bound and "
      "expired records stay",
      "systemctl enable --now defender-cleanup.timer (or run \"defenderctl "
      "cleanup\" daily from cron)"));
}

// The lines of `stacks` (their conf= file, as loaded into `confs`, then
// their KEY=VALUE arguments applied as the module applies them): an argument
// the module refuses (pam.argument_invalid), arguments that put a step in
// report mode (pam.report_mode, once per file), and, with the firewall on, a
// preauth step (a stack's first refusal) that lets in hosts the firewall drops:
// the firewall follows `cfg` (`shown`), not the stack's configuration
// (pam.firewall_mismatch). `cfg` is nullptr when `shown` does not load:
// the arguments are then checked over the built-in defaults, and the
// firewall is not judged.
void CheckStackArgs(const std::string& shown, const Config* cfg,
                    const std::map<std::string, Config>& confs,
                    const std::vector<StackArgs>& stacks,
                    std::vector<Finding>* out) {
  const std::string firewall_off = cfg ? FirewallOffReason(*cfg) : "";
  std::vector<std::string> noted;
  for (const StackArgs& s : stacks) {
    const bool own = !s.conf.empty() && s.conf != shown;
    const auto loaded = confs.find(s.conf);
    if (own && loaded == confs.end()) continue;  // pam.conf_invalid.
    Config c = own ? loaded->second : cfg ? *cfg : Config();
    std::string err;
    const bool file_report = c.report_only;
    bool valid = true;
    for (const std::string& a : s.overrides) {
      if (!ApplyOverride(a, &c, &err)) {
        out->push_back(
            Problem("pam.argument_invalid", s.file, s.line,
                    err +
                        ": the module does not run this step with it (a "
                        "configuration error: " +
                        (s.fail_closed ? "with fail_closed every login "
                                         "through this stack is refused)"
                                       : "the step protects nothing)"),
                    "fix or remove the argument"));
        valid = false;
        break;
      }
    }
    if (!valid) continue;
    if (c.report_only && !file_report &&
        std::find(noted.begin(), noted.end(), s.file) == noted.end()) {
      noted.push_back(s.file);
      out->push_back(
          Note("pam.report_mode", s.file, s.line,
               "an argument of this line sets mode = \"report\": its step "
               "counts and logs (would block, would refuse) but refuses "
               "nothing",
               "once the report looks right, remove it"));
    }
    const std::string off = FirewallOffReason(c);
    if (cfg && cfg->firewall_enabled && s.preauth && firewall_off.empty() &&
        !off.empty()) {
      out->push_back(Problem(
          "pam.firewall_mismatch", s.file, s.line,
          "this step's configuration drops no host (" + off +
              "), but the firewall follows " + shown +
              " and drops blocked hosts: it refuses logins this stack lets in",
          "set the same in " + shown + ", or turn the firewall off"));
    }
  }
}

// A configuration file in report mode.
Finding ReportModeNote(const std::string& file) {
  return Note("config.report_mode", file, 0,
              "mode = \"report\": blocks are counted and logged (would "
              "block, would refuse) but nothing is refused",
              "once the report looks right, set [lockout] mode = \"enforce\"");
}

// A configuration file, or a directory on its path, that a user other
// than root can change: that user can raise the limits, allow-list their
// address or set report mode (the module reads such a file, unless it
// names hooks or a password). `shown` is the path the administrator sees;
// under --root the directories above the tree are not judged, and `given`
// (a -c path) is checked all the way up.
void CheckConfigWriters(const std::string& root, const std::string& shown,
                        bool given, std::vector<Finding>* out) {
  const std::string real = given ? shown : Under(root, shown);
  const std::string top =
      given || root.empty() || root == "/" ? "/" : Under(root, "/");
  struct stat st;
  if (lstat(real.c_str(), &st) != 0) return;  // Missing: config.invalid.
  if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    out->push_back(Problem(
        "config.writable", shown, 0,
        "the configuration file can be changed by a user other than root "
        "(owner uid " +
            std::to_string(st.st_uid) + ", mode " + OctalMode(st.st_mode) +
            "): that user can raise the limits, allow-list any address or "
            "turn refusals off",
        "chown root:root " + shown + " && chmod go-w " + shown));
    return;
  }
  std::string dir = real;
  std::string seen = shown;
  while (dir.size() > top.size() && dir != "/") {
    dir = ParentDir(dir);
    seen = ParentDir(seen);
    if (lstat(dir.c_str(), &st) != 0) return;
    // A sticky directory (/tmp) lets no one rename or remove root's file.
    const bool others_replace =
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0;
    if (st.st_uid != 0 || others_replace) {
      out->push_back(Problem(
          "config.writable", shown, 0,
          "the directory " + seen +
              " can be changed by a user other than root (owner uid " +
              std::to_string(st.st_uid) + ", mode " + OctalMode(st.st_mode) +
              "): that user can replace the configuration file",
          "chown root:root " + seen + " && chmod go-w " + seen));
      return;
    }
  }
}

// libpam reads a line in pieces of at most 1023 bytes (a continued line
// included) and stops at a NUL byte: a file with such a line or byte may
// hold lines ReadPamFile does not see. True for such a file, with
// *naming set to each physical line that names the module (by its alias
// too when `alias_too`), comments included, as (number, text).
bool ReadInPieces(const std::string& path, bool alias_too,
                  std::vector<std::pair<int, std::string>>* naming) {
  std::ifstream in(path, std::ios::binary);
  std::string raw;
  bool odd = false;
  size_t continued = 0;  // Bytes of the continued line so far, 0 if none.
  for (int number = 1; std::getline(in, raw); ++number) {
    odd = odd || raw.find('\0') != std::string::npos || raw.size() > 1022 ||
          (continued > 0 && continued + raw.size() + 1 > 1023);
    if (raw.find("pam_defender.so") != std::string::npos ||
        (alias_too && raw.find("pam_dfndr.so") != std::string::npos)) {
      std::string text = raw;
      std::erase(text, '\0');
      if (text.size() > 200) text = text.substr(0, 200) + "...";
      naming->emplace_back(number, Trim(text));
    }
    const size_t lead = raw.find_first_not_of(" \t");
    if (lead == std::string::npos || raw[lead] == '#') continue;
    const size_t end = raw.find_last_not_of(" \t");
    const bool goes_on = raw.find('#') == std::string::npos && raw[end] == '\\';
    continued = goes_on ? continued + raw.size() + 1 : 0;
  }
  return odd;
}

}  // namespace

std::vector<Finding> RemovalFindings(const std::string& root) {
  std::vector<Finding> out;
  const auto problem = [&out](const std::string& file, int number,
                              const std::string& text) {
    out.push_back(Problem(
        "removal.reference", file, number,
        "\"" + text +
            "\" names the module that removing the package "
            "deletes: every login through this service would then fail",
        "delete this line (with the other pam_defender lines of the file) "
        "and restore the file's original stack, then remove the package"));
  };
  for (const std::string& name : PamFiles(root)) {
    const std::string file = std::string(kPamDir) + "/" + name;
    // pam-auth-update removes the alias's lines from common-* itself.
    const bool alias_too = !IsCommonFile(name);
    std::vector<std::pair<int, std::string>> naming;
    if (ReadInPieces(Under(root, file), alias_too, &naming)) {
      for (const auto& [number, text] : naming) problem(file, number, text);
      continue;
    }
    for (const PamLine& l : ReadPamFile(Under(root, file))) {
      if (IsOurs(l, alias_too)) problem(file, l.number, l.text);
    }
  }
  return out;
}

std::vector<Finding> RunDoctor(const DoctorOptions& opt) {
  std::vector<Finding> out;
  bool sshd_uses_us = false;
  std::vector<ConfRef> confs;
  std::vector<StackArgs> stacks;
  CheckPam(opt.root, &out, &sshd_uses_us, &confs, &stacks);
  if (sshd_uses_us) CheckSshd(opt.root, &out);

  const std::string shown = opt.config_path.empty()
                                ? std::string(Config::kDefaultConfigPath)
                                : opt.config_path;
  // A stack's own configuration (conf=): one that does not load leaves that
  // stack on its last valid version, or unprotected if it never loaded;
  // one in report mode refuses nothing.
  // Each is read once, over the built-in defaults as the module does, and
  // kept for CheckStackArgs.
  std::map<std::string, Config> loaded;
  for (const ConfRef& c : confs) {
    if (c.path == shown) continue;
    Config other;
    std::string err;
    if (LoadConfigFile(Under(opt.root, c.path), /*missing_ok=*/false, &other,
                       &err)) {
      if (other.report_only) out.push_back(ReportModeNote(c.path));
      loaded.emplace(c.path, std::move(other));
    } else {
      out.push_back(
          Problem("pam.conf_invalid", c.file, c.line,
                  "conf=" + c.path + " does not load (" + err +
                      "): logins through this stack keep its last valid "
                      "configuration, or are not protected if it never loaded",
                  "correct the path, or fix the file (defenderctl -c " +
                      c.path + " config check)"));
    }
  }
  const std::string path =
      opt.config_path.empty() ? Under(opt.root, shown) : opt.config_path;
  CheckConfigWriters(opt.root, shown, !opt.config_path.empty(), &out);
  for (const auto& [conf, unused] : loaded) {
    CheckConfigWriters(opt.root, conf, /*given=*/false, &out);
  }
  Config cfg;
  std::string err;
  if (!LoadConfigFile(path, opt.config_path.empty(), &cfg, &err)) {
    out.push_back(Problem("config.invalid", shown, 0,
                          "the configuration does not load (" + err +
                              "): the module keeps enforcing the last valid "
                              "one, or none if it never loaded one",
                          "fix it, then run \"defenderctl config check\""));
    CheckStackArgs(shown, nullptr, loaded, stacks, &out);
  } else {
    CheckAdminSession(cfg, shown, opt.ssh_connection, &out);
    if (cfg.report_only) out.push_back(ReportModeNote(shown));
    CheckStackArgs(shown, &cfg, loaded, stacks, &out);
    CheckStore(opt.root, cfg, &out);
  }
  CheckCleanup(opt.root, &out);
  return out;
}

}  // namespace defender::ctl
