#include "support/test_certificates.h"

#include <sys/stat.h>

#include <fstream>
#include <vector>

#include "platform/process.h"

namespace pgpilot::testing {
namespace {

Status Openssl(ProcessRunner& runner, const std::vector<std::string>& args) {
  ProcessSpec spec;
  spec.argv.push_back("/usr/bin/openssl");
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  auto run = runner.Run(spec, Duration(60000));
  if (!run.ok()) return run.error();
  if (!run->status.ok()) {
    return Internal("openssl " + args.front() + " failed (" + run->status.ToString() + "): " + run->output,
                    "install Debian's openssl package");
  }
  return Status::Ok();
}

// A key and a certificate signed by the CA in `dir`, with the given extensions.
Status Issue(ProcessRunner& runner, const std::string& dir, const std::string& name,
             const std::string& subject, const std::string& extensions) {
  std::string ext_file = dir + "/" + name + ".ext";
  std::ofstream(ext_file) << extensions << "\n";
  if (Status s = Openssl(runner, {"req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout",
                                  dir + "/" + name + ".key", "-out", dir + "/" + name + ".csr",
                                  "-subj", subject});
      !s.ok()) {
    return s;
  }
  chmod((dir + "/" + name + ".key").c_str(), 0600);
  return Openssl(runner, {"x509", "-req", "-in", dir + "/" + name + ".csr", "-CA", dir + "/ca.pem",
                          "-CAkey", dir + "/ca.key", "-CAcreateserial", "-days", "2", "-out",
                          dir + "/" + name + ".pem", "-extfile", ext_file});
}

}  // namespace

Result<TestCertificates> MakeTestCertificates(const std::string& dir) {
  ProcessRunner runner;
  return MakeTestCertificates(dir, runner);
}

Result<TestCertificates> MakeTestCertificates(const std::string& dir, ProcessRunner& runner) {
  if (Status s = Openssl(runner, {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                                  dir + "/ca.key", "-out", dir + "/ca.pem", "-days", "2", "-subj",
                                  "/CN=pgpilot-test-ca"});
      !s.ok()) {
    return s.error();
  }
  chmod((dir + "/ca.key").c_str(), 0600);
  if (Status s = Issue(runner, dir, "server", "/CN=127.0.0.1",
                       "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth");
      !s.ok()) {
    return s.error();
  }
  if (Status s = Issue(runner, dir, "client", "/CN=pgpilot-test-client",
                       "extendedKeyUsage=clientAuth");
      !s.ok()) {
    return s.error();
  }
  return TestCertificates{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key",
                          dir + "/client.pem", dir + "/client.key"};
}

}  // namespace pgpilot::testing
