// Network helpers: is a TCP port free to listen on, and a loopback port that is.
#pragma once

#include <string>

#include "core/result.h"

namespace pgpilot {

// Fails with a message naming `what` (e.g. "PostgreSQL port of pg-1") when host:port is taken.
// Hosts that are not IPv4 literals are not checked (the listener reports them itself).
Status CheckPortFree(const std::string& host, int port, const std::string& what,
                     const std::string& hint);

// A TCP port on 127.0.0.1 that was free a moment ago (0 if none was found); `avoid`: a port not
// to return. Tests use it for servers they start, and for ports where nothing listens.
int FreeLoopbackPort(int avoid = 0);

}  // namespace pgpilot
