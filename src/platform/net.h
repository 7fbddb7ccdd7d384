// Network helpers: is a TCP port free to listen on.
#pragma once

#include <string>

#include "core/result.h"

namespace pgpilot {

// Fails with a message naming `what` (e.g. "PostgreSQL port of pg-1") when host:port is taken.
// Hosts that are not IPv4 literals are not checked (the listener reports them itself).
Status CheckPortFree(const std::string& host, int port, const std::string& what,
                     const std::string& hint);

}  // namespace pgpilot
