// A client of an agent's API, over http or https: verifies the agent's certificate against a CA,
// presents a client certificate when it has one, and sends an Authorization header when given one.
// Used by the agents (peer positions) and by `pgpilot ctl --api`. cpp-httplib stays in the .cc.
#pragma once

#include <string>

#include "core/result.h"
#include "core/types.h"

namespace pgpilot {

struct ApiClientTls {
  std::string ca_file;    // verifies the server's certificate; empty: the system's CAs
  std::string cert_file;  // presented when the server asks for a client certificate
  std::string key_file;
};

struct ApiClientOptions {
  ApiClientTls tls;          // used for https:// URLs only
  std::string authorization;  // the Authorization header ("" to send none); a secret
  Duration timeout{5000};     // connect, read and write, each
};

struct HttpReply {
  int status = 0;
  std::string body;
};

// `method` is GET, POST, PATCH or DELETE; `base_url` is http://HOST:PORT or https://HOST:PORT.
// Any answer is a reply (whatever its status); an error means no answer: unreachable, timed out,
// or a TLS failure (the message says which, the hint what to pass).
Result<HttpReply> ApiCall(const std::string& base_url, const std::string& method, const std::string& path,
                          const std::string& json_body, const ApiClientOptions& options);

}  // namespace pgpilot
