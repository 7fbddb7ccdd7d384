// The command line of `pgpilot`: subcommands, flags and help texts. CLI11 stays inside
// command_line.cc.
#pragma once

namespace pgpilot {

int RunCommandLine(int argc, char** argv);

}  // namespace pgpilot
