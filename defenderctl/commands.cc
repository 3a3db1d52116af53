#include "defenderctl/command.h"

namespace defender::ctl {
namespace {

const Command kCommands[] = {
    {"list", "List blocked subjects (users, hosts, pairs) or remembered hosts",
     DefineList},
    {"attempts", "Show the attempt log, newest first", DefineAttempts},
    {"unblock", "Clear the block and the failure counter of a subject",
     DefineUnblock},
    {"block", "Block a user or a host by hand", DefineBlock},
    {"check", "Tell whether a login would be refused now, and why",
     DefineCheck},
    {"cleanup", "Prune the attempt log and expired store records",
     DefineCleanup},
    {"config", "Validate or print the effective configuration", DefineConfig},
    {"stats", "Counts of blocks, failures and attempts", DefineStats},
    {"forget", "Forget remembered hosts of a user", DefineForget},
};

}  // namespace

std::span<const Command> Commands() { return kCommands; }

}  // namespace defender::ctl
