// pgpilot: one binary for the agent, the local cluster commands and ctl.
#include "cli/command_line.h"

int main(int argc, char** argv) { return pgpilot::RunCommandLine(argc, argv); }
