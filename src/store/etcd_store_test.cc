// The etcd store against a real etcd: authentication, endpoint failover, and bad input (wrong
// endpoints, wrong credentials, foreign data under the prefix). The shared contract is in
// store_contract_test.cc.
#include "store/etcd_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <chrono>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "platform/clock.h"
#include "platform/net.h"
#include "store/base64.h"
#include "store/keys.h"
#include "support/etcd_process.h"
#include "support/test_certificates.h"

namespace pgpilot {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::EtcdPost;
using testing::EtcdProcess;

class EtcdAuthAndInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto started = EtcdProcess::Start();
    ASSERT_TRUE(started.ok()) << started.error().ToString();
    etcd_ = started->release();
  }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
  }
  void SetUp() override {
    char dir[] = "/tmp/pgpilot-etcd-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Secret(const std::string& name, const std::string& value) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << value << "\n";
    chmod(path.c_str(), 0600);
    return path;
  }
  std::string Cluster() {
    return "t" + std::to_string(getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  static EtcdProcess* etcd_;
  RealClock clock_;
  std::string dir_;
};

EtcdProcess* EtcdAuthAndInputTest::etcd_ = nullptr;

std::string Lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST_F(EtcdAuthAndInputTest, AuthenticatesAndRefusesWrongPasswordsWithoutEchoingThem) {
  ASSERT_TRUE(etcd_->EnableAuth("root-secret-1", "pgpilot", "right-secret-2").ok()) << etcd_->LogTail();
  struct DisableAtEnd {
    EtcdProcess* e;
    ~DisableAtEnd() { (void)e->DisableAuth("root-secret-1"); }
  } disable{etcd_};
  std::string cluster = Lowercase(Cluster());

  EtcdConfig good{{etcd_->endpoint()}, "pgpilot", Secret("good", "right-secret-2")};
  auto store = EtcdStore::Open(good, cluster, clock_);
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  auto claimed = (*store)->ClaimInitialize("pg-0", "");
  ASSERT_TRUE(claimed.ok()) << claimed.error().ToString();
  EXPECT_TRUE(*claimed);
  auto view = (*store)->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  ASSERT_TRUE(view->initialize.has_value());
  EXPECT_EQ(view->initialize->claimed_by, "pg-0");
  // The watch runs with the token too: a member joining wakes a waiter.
  auto token = (*store)->WaitForChange(~uint64_t{0}, Duration(0));
  ASSERT_TRUE(token.ok());
  auto other = EtcdStore::Open(good, cluster, clock_);
  ASSERT_TRUE(other.ok());
  MemberStatus m;
  m.name = "pg-1";
  ASSERT_TRUE((*other)->PutMember(m, Duration(5000)).ok());
  auto woke = (*store)->WaitForChange(*token, Duration(3000));
  ASSERT_TRUE(woke.ok()) << woke.error().ToString();
  EXPECT_NE(*woke, *token);

  EtcdConfig wrong{{etcd_->endpoint()}, "pgpilot", Secret("wrong", "wrong-secret-3")};
  auto refused = EtcdStore::Open(wrong, cluster, clock_);
  ASSERT_TRUE(refused.ok());  // Open does not contact etcd
  auto load = (*refused)->Load();
  ASSERT_FALSE(load.ok());
  EXPECT_EQ(load.error().code, ErrorCode::kPermissionDenied) << load.error().ToString();
  EXPECT_THAT(load.error().ToString(), HasSubstr("password_file"));
  EXPECT_THAT(load.error().ToString(), Not(HasSubstr("wrong-secret-3")));

  EtcdConfig anonymous{{etcd_->endpoint()}};
  auto no_user = EtcdStore::Open(anonymous, cluster, clock_);
  ASSERT_TRUE(no_user.ok());
  auto denied = (*no_user)->Load();
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kPermissionDenied) << denied.error().ToString();
}

TEST_F(EtcdAuthAndInputTest, UsernameWithoutPasswordFileOrWithAnOpenPasswordFileIsRefusedAtOpen) {
  auto missing = EtcdStore::Open(EtcdConfig{{etcd_->endpoint()}, "pgpilot", ""}, "c", clock_);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().ToString(), HasSubstr("password_file"));
  std::string open_file = Secret("open", "x");
  chmod(open_file.c_str(), 0644);
  auto readable = EtcdStore::Open(EtcdConfig{{etcd_->endpoint()}, "pgpilot", open_file}, "c", clock_);
  ASSERT_FALSE(readable.ok());
  EXPECT_THAT(readable.error().ToString(), HasSubstr("chmod 600"));
}

TEST_F(EtcdAuthAndInputTest, FailsOverToTheNextEndpointWhenOneIsDown) {
  std::string dead = "127.0.0.1:" + std::to_string(FreeLoopbackPort(etcd_->client_port()));
  auto store = EtcdStore::Open(EtcdConfig{{dead, etcd_->endpoint()}}, Cluster(), clock_);
  ASSERT_TRUE(store.ok());
  auto claimed = (*store)->ClaimInitialize("pg-0", "");
  ASSERT_TRUE(claimed.ok()) << claimed.error().ToString();
  EXPECT_TRUE(*claimed);
  EXPECT_THAT((*store)->Describe(), HasSubstr(dead));
}

TEST_F(EtcdAuthAndInputTest, UnreachableEndpointsAreUnavailableAndNamed) {
  std::string dead = "127.0.0.1:" + std::to_string(FreeLoopbackPort(etcd_->client_port()));
  auto store = EtcdStore::Open(EtcdConfig{{dead}}, Cluster(), clock_);
  ASSERT_TRUE(store.ok());
  auto load = (*store)->Load();
  ASSERT_FALSE(load.ok());
  EXPECT_EQ(load.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(load.error().message, HasSubstr(dead));
  auto acquire = (*store)->AcquireLeader({"pg-0", Duration(5000), Lsn{}, 1}, std::nullopt);
  ASSERT_FALSE(acquire.ok());
  EXPECT_EQ(acquire.error().code, ErrorCode::kUnavailable);
}

TEST_F(EtcdAuthAndInputTest, ACallDeadlineCutsShortARequestToAnEtcdThatStoppedAnswering) {
  EtcdConfig config{{etcd_->endpoint()}};
  config.request_timeout = Duration(20000);
  auto store = EtcdStore::Open(config, Cluster(), clock_);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Load().ok());
  ASSERT_TRUE(etcd_->Pause().ok());
  // A frozen etcd accepts the connection and never answers: only the deadline ends the call.
  (*store)->SetCallDeadline(clock_.Now() + Duration(300));
  auto started = std::chrono::steady_clock::now();
  auto load = (*store)->Load();
  auto took = std::chrono::steady_clock::now() - started;
  // Past the deadline nothing is asked at all (waiting for it: the frozen etcd's request may
  // have ended a moment early).
  std::this_thread::sleep_until(started + std::chrono::milliseconds(320));
  auto renew = (*store)->RenewLeader({"pg-0", Duration(5000), Lsn{}, 1}, 1);
  ASSERT_TRUE(etcd_->Resume().ok());
  ASSERT_FALSE(load.ok());
  EXPECT_EQ(load.error().code, ErrorCode::kUnavailable) << load.error().ToString();
  EXPECT_LT(took, std::chrono::seconds(10)) << "the request ran to its own 20 s timeout";
  ASSERT_FALSE(renew.ok());
  EXPECT_EQ(renew.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(renew.error().message, HasSubstr("deadline"));
  (*store)->SetCallDeadline(std::nullopt);
  auto again = (*store)->Load();
  EXPECT_TRUE(again.ok()) << again.error().ToString();
}

TEST_F(EtcdAuthAndInputTest, NoEndpointsIsABadConfig) {
  auto store = EtcdStore::Open(EtcdConfig{}, "c", clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(store.error().hint, HasSubstr("endpoints"));
}

TEST_F(EtcdAuthAndInputTest, ForeignDataUnderThePrefixIsAnErrorNamingTheKey) {
  std::string cluster = Cluster();
  std::string key = keys::Key(cluster, keys::kLeader);
  auto put = EtcdPost(etcd_->endpoint(), "/v3/kv/put",
                      "{\"key\":\"" + Base64Encode(key) + "\",\"value\":\"" +
                          Base64Encode("not json at all") + "\"}");
  ASSERT_TRUE(put.ok()) << put.error().ToString();
  auto store = EtcdStore::Open(EtcdConfig{{etcd_->endpoint()}}, cluster, clock_);
  ASSERT_TRUE(store.ok());
  auto load = (*store)->Load();
  ASSERT_FALSE(load.ok());
  EXPECT_THAT(load.error().message, HasSubstr(key));
  // Nothing is taken over on data that cannot be trusted.
  auto acquire = (*store)->AcquireLeader({"pg-0", Duration(5000), Lsn{}, 1}, std::nullopt);
  EXPECT_FALSE(acquire.ok());
  auto renew = (*store)->RenewLeader({"pg-0", Duration(5000), Lsn{}, 1}, 1);
  EXPECT_FALSE(renew.ok());
}

// etcd that accepts only TLS clients presenting a certificate signed by the test CA.
class EtcdTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char dir[] = "/tmp/pgpilot-etcd-tls-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = new std::string(dir);
    auto certs = testing::MakeTestCertificates(*dir_);
    ASSERT_TRUE(certs.ok()) << certs.error().ToString();
    certs_ = new testing::TestCertificates(*certs);
    EtcdProcess::Options options;
    options.tls_cert_file = certs->server_cert;
    options.tls_key_file = certs->server_key;
    options.tls_client_ca_file = certs->ca;
    auto started = EtcdProcess::Start(options);
    ASSERT_TRUE(started.ok()) << started.error().ToString();
    etcd_ = started->release();
  }
  static void TearDownTestSuite() {
    delete etcd_;
    etcd_ = nullptr;
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
    delete certs_;
  }
  EtcdConfig Config() const {
    EtcdConfig c{{etcd_->endpoint()}};
    c.ca_file = certs_->ca;
    c.cert_file = certs_->client_cert;
    c.key_file = certs_->client_key;
    return c;
  }
  std::string Cluster() {
    return "tls" + std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  static EtcdProcess* etcd_;
  static std::string* dir_;
  static testing::TestCertificates* certs_;
  RealClock clock_;
};

EtcdProcess* EtcdTlsTest::etcd_ = nullptr;
std::string* EtcdTlsTest::dir_ = nullptr;
testing::TestCertificates* EtcdTlsTest::certs_ = nullptr;

TEST_F(EtcdTlsTest, WorksOverTlsWithAClientCertificateIncludingTheWatch) {
  ASSERT_THAT(etcd_->endpoint(), ::testing::StartsWith("https://"));
  auto a = EtcdStore::Open(Config(), Cluster(), clock_);
  auto b = EtcdStore::Open(Config(), Cluster(), clock_);
  ASSERT_TRUE(a.ok() && b.ok());
  auto token = (*b)->WaitForChange(~uint64_t{0}, Duration(0));
  ASSERT_TRUE(token.ok()) << token.error().ToString();
  auto claimed = (*a)->ClaimInitialize("pg-0", "");
  ASSERT_TRUE(claimed.ok()) << claimed.error().ToString();
  EXPECT_TRUE(*claimed);
  // The other store's watch (a TLS stream) sees the claim.
  auto woke = (*b)->WaitForChange(*token, Duration(10000));
  ASSERT_TRUE(woke.ok()) << woke.error().ToString();
  EXPECT_NE(*woke, *token);
  auto view = (*b)->Load();
  ASSERT_TRUE(view.ok()) << view.error().ToString();
  ASSERT_TRUE(view->initialize.has_value());
  EXPECT_EQ(view->initialize->claimed_by, "pg-0");
}

TEST_F(EtcdTlsTest, AnUntrustedServerCertificateIsRefusedWithAHintAboutTheCa) {
  EtcdConfig config = Config();
  config.ca_file.clear();  // the system's CAs did not sign the test server's certificate
  auto store = EtcdStore::Open(config, Cluster(), clock_);
  ASSERT_TRUE(store.ok());
  auto load = (*store)->Load();
  ASSERT_FALSE(load.ok());
  EXPECT_EQ(load.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(load.error().ToString(), HasSubstr("ca_file"));
}

TEST_F(EtcdTlsTest, NoClientCertificateIsRefusedWithAHintAboutIt) {
  EtcdConfig config = Config();
  config.cert_file.clear();
  config.key_file.clear();
  auto store = EtcdStore::Open(config, Cluster(), clock_);
  ASSERT_TRUE(store.ok());
  auto claimed = (*store)->ClaimInitialize("pg-0", "");
  ASSERT_FALSE(claimed.ok());
  EXPECT_EQ(claimed.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(claimed.error().ToString(), HasSubstr("cert_file"));
}

}  // namespace
}  // namespace pgpilot
