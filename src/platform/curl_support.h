// What every libcurl user shares: one-time global initialisation and a body collector.
#pragma once

#include <cstddef>

namespace pgpilot {

// curl_global_init, once per process (thread-safe).
void EnsureCurlInitialized();
// A CURLOPT_WRITEFUNCTION appending to the std::string passed as CURLOPT_WRITEDATA.
size_t AppendToString(char* data, size_t size, size_t count, void* out);

}  // namespace pgpilot
