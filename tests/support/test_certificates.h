// Test support: a throwaway certificate authority, a server certificate for 127.0.0.1 and a
// client certificate, made with the openssl command-line tool in a directory the test owns.
#pragma once

#include <string>

#include "core/result.h"
#include "platform/process.h"

namespace pgpilot::testing {

struct TestCertificates {
  std::string ca;           // the CA certificate (PEM), to verify either side
  std::string server_cert;  // subjectAltName IP:127.0.0.1; serverAuth and clientAuth (etcd's
                            // gateway presents it to etcd's own gRPC port)
  std::string server_key;
  std::string client_cert;  // CN pgpilot-test-client, clientAuth
  std::string client_key;
};

// Writes the files into `dir` (keys 0600). Errors carry openssl's output.
Result<TestCertificates> MakeTestCertificates(const std::string& dir);
// The same with the caller's runner: a process that has one runner reaping every child (the
// integration tests' Runner()) must run openssl through it.
Result<TestCertificates> MakeTestCertificates(const std::string& dir, ProcessRunner& runner);

}  // namespace pgpilot::testing
