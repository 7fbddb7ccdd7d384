// cpp-httplib, configured once: code includes this header, never <httplib.h> directly.
#pragma once

#include <sys/socket.h>

// A write to a peer that hung up fails with EPIPE instead of killing the whole process with
// SIGPIPE (httplib 0.11 sends with no flags; a test process does not ignore SIGPIPE).
#ifndef CPPHTTPLIB_SEND_FLAGS
#define CPPHTTPLIB_SEND_FLAGS MSG_NOSIGNAL
#endif
#include <httplib.h>
