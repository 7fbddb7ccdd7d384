#include "api/api_client.h"

#include <pthread.h>
#include <signal.h>

#include <ctime>

#include "platform/http_lib.h"

namespace pgpilot {
namespace {

// OpenSSL writes to the socket without MSG_NOSIGNAL: a server that drops a TLS connection (as one
// requiring a client certificate does) would kill the whole process with SIGPIPE. Blocked for this
// thread during the call; a SIGPIPE it raised meanwhile is discarded (it is thread-directed).
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlocked() {
    if (!sigismember(&old_, SIGPIPE)) {
      timespec zero{0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
};

}  // namespace

Result<HttpReply> ApiCall(const std::string& base_url_arg, const std::string& method, const std::string& path,
                          const std::string& json_body, const ApiClientOptions& options) {
  std::string base_url = base_url_arg;
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  bool https = base_url.rfind("https://", 0) == 0;
  if (!https && base_url.rfind("http://", 0) != 0) {
    return InvalidArgument("the API address '" + base_url_arg + "' is not an http:// or https:// URL",
                           "write it as http://HOST:PORT or https://HOST:PORT");
  }
  const ApiClientTls& tls = options.tls;
  bool client_cert = https && !tls.cert_file.empty();
  httplib::Client client = client_cert ? httplib::Client(base_url, tls.cert_file, tls.key_file)
                                       : httplib::Client(base_url);
  if (!client.is_valid()) {
    return InvalidArgument("cannot use " + base_url + (client_cert ? " with the client certificate " +
                                                                         tls.cert_file + " and key " + tls.key_file
                                                                   : ""),
                           "check the URL, and that the certificate and key files are PEM and match");
  }
  if (https && !tls.ca_file.empty()) client.set_ca_cert_path(tls.ca_file);
  auto seconds = options.timeout.count() / 1000;
  auto micros = (options.timeout.count() % 1000) * 1000;
  client.set_connection_timeout(seconds, micros);
  client.set_read_timeout(seconds, micros);
  client.set_write_timeout(seconds, micros);
  httplib::Headers headers;
  if (!options.authorization.empty()) headers.emplace("Authorization", options.authorization);
  SigpipeBlocked no_sigpipe;
  const char* type = "application/json";
  httplib::Result res = method == "GET"     ? client.Get(path, headers)
                        : method == "POST"  ? client.Post(path, headers, json_body, type)
                        : method == "PATCH" ? client.Patch(path, headers, json_body, type)
                        : method == "DELETE" ? client.Delete(path, headers, json_body, type)
                                             : httplib::Result(nullptr, httplib::Error::Unknown);
  if (!res) {
    std::string what = base_url + path + ": " + httplib::to_string(res.error());
    switch (res.error()) {
      case httplib::Error::SSLServerVerification:
        return Unavailable(what + " (the agent's certificate was not signed by a trusted CA, or does "
                                  "not name " + base_url + ")",
                           "pass the CA that signed the agents' API certificates (ctl --api-ca-file, "
                           "or api.tls.ca_file in the agent config)");
      case httplib::Error::SSLLoadingCerts:
        return InvalidArgument(what + " (cannot load the CA file '" + tls.ca_file + "')",
                               "give a readable PEM file of the CA");
      case httplib::Error::SSLConnection:
        return Unavailable(what + " (the TLS handshake failed: the agent may require a client "
                                  "certificate, or does not speak TLS)",
                           "pass a client certificate signed by the agent's api.tls.client_ca_file "
                           "(ctl --api-cert-file/--api-key-file), and use https:// only for agents "
                           "with api.tls configured");
      case httplib::Error::Read:
      case httplib::Error::Write:
        // The connection was made and then dropped: what a TLS server does to a plain request,
        // and to a client without the certificate it requires (TLS 1.3 tells after the handshake).
        if (https && tls.cert_file.empty()) {
          return Unavailable(what + " (the agent closed the TLS connection: it may require a client certificate)",
                             "pass a client certificate signed by the agent's api.tls.client_ca_file "
                             "(ctl --api-cert-file/--api-key-file)");
        }
        if (!https) {
          return Unavailable(what + " (the agent closed the connection)",
                             "if the agent serves HTTPS (api.tls), use https://");
        }
        return Unavailable(what, "check that the agent runs and that the address is its api.connect_address");
      default:
        return Unavailable(what, "check that the agent runs and that the address is its api.connect_address");
    }
  }
  return HttpReply{res->status, res->body};
}

}  // namespace pgpilot
