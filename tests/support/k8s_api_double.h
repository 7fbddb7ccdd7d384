// Test support: an in-process fake Kubernetes API server with the real wire format and semantics.
//
// KubernetesApiDouble serves plain HTTP on 127.0.0.1 (a free port) from a thread pool and keeps
// its objects in memory, shared by all requests and by the direct accessors below. It exists so
// that the Kubernetes store can be tested against the behaviour of a real API server without one.
//
// What it implements, as the real server does it:
//   - Leases (coordination.k8s.io/v1) and ConfigMaps (v1): list, create, get, replace (PUT),
//     JSON merge patch (RFC 7386), delete. Pods (v1): list, create, get, merge patch, delete
//     (PUT answers 405).
//     All namespaced: /api/v1/namespaces/{ns}/{configmaps,pods}[/{name}] and
//     /apis/coordination.k8s.io/v1/namespaces/{ns}/leases[/{name}].
//   - One global resourceVersion counter (a decimal string, starting above 2^32 so a client that
//     keeps it in 32 bits fails here too), bumped by every write; an update that changes nothing
//     is not a write and keeps the resourceVersion, as on a real server. Generated uid,
//     creationTimestamp and namespace. Lists are sorted by name; their items carry no kind or
//     apiVersion (as in a real typed list); `limit` and `continue` page through them.
//   - Optimistic concurrency: metadata.resourceVersion in a PUT body or in a merge patch is a
//     precondition (409 Conflict when stale; absent or "0": unconditional); a PUT body's uid is a
//     precondition too. DELETE honours DeleteOptions.preconditions (uid, resourceVersion).
//   - Errors as Status objects (kind Status, status Failure, message, reason, code, details):
//     400 BadRequest (bad JSON, fields of the wrong type, a MicroTime not in the exact format
//     "2026-11-23T15:04:05.123456Z" (or with a numeric offset, stored in UTC), name or namespace
//     not matching the URL, a malformed labelSelector), 401 Unauthorized, 404 NotFound,
//     405 MethodNotAllowed, 409 AlreadyExists / Conflict, 415 UnsupportedMediaType,
//     422 Invalid (names, label keys and values, annotation keys and size, ConfigMap keys,
//     immutable ConfigMaps, lease durations, missing metadata.name). Decoding errors (a label,
//     annotation or data value that is not a string) are 400, as the real decoder makes them.
//   - labelSelector: k=v, k==v, k!=v, k, !k, k in (a,b), k notin (a,b), k>N, k<N.
//   - Unknown fields of Leases and ConfigMaps (and of any object's metadata) are dropped with a
//     "Warning: 299" header, as the real server's default field validation does.
//   - A bearer token, when given: requests without "Authorization: Bearer <token>" get 401.
//   - Also GET /version, /healthz, /readyz and /livez.
//
// What it does not implement: watch (?watch=1 is answered 400), fieldSelector and dryRun (400),
// strategic-merge and JSON patch and server-side apply (415), resourceVersion semantics of reads
// (always the latest; `continue` pages are not a snapshot), admission, RBAC (no authorization
// beyond the bearer token, which every path needs, /version included), namespaces as objects
// (every namespace exists), cluster-wide paths, deletecollection (405), subresources (404),
// managedFields, generation, finalizers and graceful deletion (DELETE removes at once and answers
// a Status for Leases and ConfigMaps, the object for Pods), Pod spec and status validation and
// defaulting (stored as given; no status subresource), other API versions, YAML, protobuf, TLS.
//
// Fault injection: Pause() freezes the server (connections are accepted, requests are read but
// not answered until Resume(); the client times out); Stop() closes the listening port (refused
// connections) and Restart() opens it again on the same port, keeping the objects. Requests that
// are paused when the server stops (or is destroyed) are released with 503 and Connection: close.
// Each connection serves one request (Connection: close), so stopping never waits for idle
// keep-alive connections.
//
// Thread-safe: all members may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace pgpilot::testing {

class KubernetesApiDouble {
 public:
  struct Options {
    std::string bearer_token;  // empty: no authentication
  };

  // Listens on 127.0.0.1 on a free port; answers at once.
  static Result<std::unique_ptr<KubernetesApiDouble>> Start(const Options& options);
  static Result<std::unique_ptr<KubernetesApiDouble>> Start() { return Start(Options{}); }
  ~KubernetesApiDouble();  // stops the server, releasing paused requests
  KubernetesApiDouble(const KubernetesApiDouble&) = delete;
  KubernetesApiDouble& operator=(const KubernetesApiDouble&) = delete;

  std::string url() const;  // "http://127.0.0.1:PORT"
  int port() const;

  // Direct access for test set-up and assertions, without HTTP or authentication, with the same
  // validation and resourceVersion bookkeeping as the HTTP surface. `resource`: "leases",
  // "configmaps" or "pods". Objects are JSON text. A rejected request is an error whose message is
  // the Status message the HTTP surface would answer (InvalidArgument for 400/422, NotFound for
  // 404, FailedPrecondition for 409).
  Result<std::string> Create(const std::string& resource, const std::string& ns,
                             const std::string& object_json);
  Result<std::string> Get(const std::string& resource, const std::string& ns,
                          const std::string& name) const;
  // Names of the objects of `resource` in `ns` matching `label_selector` (the HTTP syntax), sorted.
  Result<std::vector<std::string>> List(const std::string& resource, const std::string& ns,
                                        const std::string& label_selector = "") const;
  // A JSON merge patch, as PATCH with application/merge-patch+json: for tests that play another
  // writer (a competing agent, an operator editing a label).
  Result<std::string> Patch(const std::string& resource, const std::string& ns,
                            const std::string& name, const std::string& merge_patch_json);
  Status Delete(const std::string& resource, const std::string& ns, const std::string& name);

  // Fault injection (see above). Pause and Resume are idempotent, and so are Stop and Restart
  // while stopped or running; Restart fails when the port was taken meanwhile.
  void Pause();
  void Resume();
  Status Stop();
  Status Restart();
  bool paused() const;
  bool running() const;

  // How many requests arrived (counted on arrival, before authentication and pausing): all, or
  // those with this method ("GET", "PATCH"...) and/or a path starting with `path_prefix`.
  int RequestCount(const std::string& method = "", const std::string& path_prefix = "") const;

 private:
  class Impl;
  explicit KubernetesApiDouble(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pgpilot::testing
