#include "defenderctl/command.h"

namespace defender::ctl {
namespace {

const Command kCommands[] = {
    {"list", "List blocked subjects (users, hosts, pairs) or remembered hosts",
     DefineList, true},
    {"attempts", "Show the attempt log, newest first", DefineAttempts, true},
    {"unblock", "Clear the block and the failure counter of a subject",
     DefineUnblock, true},
    {"block", "Block a user or a host by hand", DefineBlock, true},
    {"check", "Tell whether a login would be refused now, and why", DefineCheck,
     true},
    {"cleanup", "Prune the attempt log and expired store records",
     DefineCleanup, false},
    {"config", "Validate or print the effective configuration", DefineConfig,
     false},
    {"stats", "Counts of blocks, failures and attempts", DefineStats, true},
    {"forget", "Forget remembered hosts of a user", DefineForget, true},
    {"doctor", "Check the PAM stacks, sshd, config, store and cleanup",
     DefineDoctor, false},
    // On the configuration the module enforces: a typo must neither stop
    // the watcher and the hooks' add/del nor keep the package's removal
    // from flushing the table (its permanent drops would stay).
    {"firewall", "Keep an nftables table dropping blocked hosts",
     DefineFirewall, true},
};

}  // namespace

std::span<const Command> Commands() { return kCommands; }

}  // namespace defender::ctl
