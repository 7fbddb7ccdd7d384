// Fuzz target: what the etcd and Kubernetes stores make of their server's answers. One store call
// (Load, a lease write, a member entry, ...) runs against a loopback server answering from the
// input (format in store_script.h), through the real libcurl clients, JSON parsing and record
// decoding. Whatever the server says, the call must return a value or an error: no crash and no
// exception, on the calling thread or on etcd's watch thread.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "platform/clock.h"
#include "platform/log.h"
#include "sample_cluster.h"
#include "store/etcd_store.h"
#include "store/k8s_store.h"
#include "store_script.h"

namespace {

using namespace pgpilot;
using fuzz::StoreOperation;

constexpr int kWatchWaitMs = 5000;

// PGPILOT_FUZZ_VERBOSE=1: print what each call returned (for writing seeds by hand).
template <typename T>
void Report(const char* call, const T& result) {
  static const bool verbose = std::getenv("PGPILOT_FUZZ_VERBOSE") != nullptr;
  if (!verbose) return;
  std::fprintf(stderr, "%s: %s\n", call, result.ok() ? "ok" : result.error().ToString().c_str());
}

void Run(Store& store, StoreOperation op) {
  ClusterView sample = fuzz::SampleView();
  LeaseRequest lease{"pg-0", Duration(10000), Lsn{0x3000248}, 2};
  switch (op) {
    case StoreOperation::kLoad:
      Report("Load", store.Load());
      break;
    case StoreOperation::kClaimInitialize:
      Report("ClaimInitialize", store.ClaimInitialize("pg-0", ""));
      break;
    case StoreOperation::kCompleteInitialize:
      Report("CompleteInitialize", store.CompleteInitialize("pg-0", "7311240523456789012"));
      break;
    case StoreOperation::kAbandonInitialize:
      Report("AbandonInitialize", store.AbandonInitialize("pg-0"));
      break;
    case StoreOperation::kAcquireLeader:
      Report("AcquireLeader", store.AcquireLeader(lease, std::nullopt));
      break;
    case StoreOperation::kTakeOverLeader:
      Report("AcquireLeader", store.AcquireLeader(lease, 41));
      break;
    case StoreOperation::kRenewLeader:
      Report("RenewLeader", store.RenewLeader(lease, 3));
      break;
    case StoreOperation::kReleaseLeader:
      Report("ReleaseLeader", store.ReleaseLeader(lease, 3));
      break;
    case StoreOperation::kPutMember:
      Report("PutMember", store.PutMember(sample.members.front(), Duration(10000)));
      break;
    case StoreOperation::kDeleteMember:
      Report("DeleteMember", store.DeleteMember("pg-2"));
      break;
    case StoreOperation::kAppendHistory: {
      HistoryEntry entry = sample.history.front();
      entry.timeline = 3;
      entry.parent = 2;
      entry.term = 4;
      Report("AppendHistory", store.AppendHistory(entry));
      break;
    }
    case StoreOperation::kWriteSync:
      Report("WriteSync", store.WriteSync(*sample.sync, 17));
      break;
    case StoreOperation::kWriteConfig:
      Report("WriteConfig", store.WriteConfig(*sample.config, std::nullopt));
      break;
    case StoreOperation::kWriteRequests:
      Report("WriteRequests", store.WriteRequests(*sample.requests, 5));
      break;
    case StoreOperation::kRequestSwitchover:
      Report("RequestSwitchover", store.RequestSwitchover(*sample.switchover));
      break;
    case StoreOperation::kClearSwitchover:
      Report("ClearSwitchover", store.ClearSwitchover());
      break;
    case StoreOperation::kWaitForChange:
      Report("WaitForChange", store.WaitForChange(~uint64_t{0}, Duration(0)));
      break;
    case StoreOperation::kCount:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static RealClock clock;
  static fuzz::ScriptedServer& server = [] () -> fuzz::ScriptedServer& {
    InitLog(LogFormat::kText, LogLevel::kError, "fuzz");  // the stores' warnings are expected here
    return fuzz::ScriptedServer::Start();
  }();
  fuzz::StoreInput in = fuzz::ParseStoreInput(std::string_view(reinterpret_cast<const char*>(data), size));
  server.Load(in.script);
  std::string url = "http://127.0.0.1:" + std::to_string(server.port());

  if (in.backend == fuzz::StoreBackend::kEtcd) {
    EtcdConfig config;
    config.endpoints = {url};
    auto store = EtcdStore::Open(config, "local", clock);
    if (!store.ok()) {
      std::fprintf(stderr, "cannot open the etcd store: %s\n", store.error().ToString().c_str());
      std::abort();
    }
    Run(**store, in.operation);
    // The watch thread reads its answer on its own; the input is done once it has handled it all.
    if (!server.AwaitWatchFinished(kWatchWaitMs)) {
      std::fprintf(stderr, "store_responses fuzzer: the etcd watch did not finish within %d ms\n", kWatchWaitMs);
    }
  } else {
    KubernetesConfig config;
    config.enabled = true;
    config.api_server = url;
    config.namespace_name = "default";
    auto store = KubernetesStore::Open(config, "local", clock);
    if (!store.ok()) {
      std::fprintf(stderr, "cannot open the Kubernetes store: %s\n", store.error().ToString().c_str());
      std::abort();
    }
    Run(**store, in.operation);
  }
  // The server's threads may still be closing connections (a client does not wait for that).
  if (!server.AwaitIdle(kWatchWaitMs)) {
    std::fprintf(stderr, "store_responses fuzzer: a connection was still being served after %d ms\n", kWatchWaitMs);
  }
  return 0;
}
