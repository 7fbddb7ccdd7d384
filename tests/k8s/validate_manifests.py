#!/usr/bin/python3
"""Offline validation of Kubernetes manifests (no API server needed).

Usage: validate_manifests.py [FILE]   (reads standard input without FILE)

Every YAML document is turned into the typed model of its kind from Debian's python3-kubernetes
(V1StatefulSet, V1Service, ...), walking the model's declared fields: an unknown field, a value
of the wrong type or a missing required field is an error. The models do not check what the API
server would refuse beyond types, so a few of those rules are checked as well: object names,
label keys and values, a workload's selector matching its pod template, volume mounts naming
declared volumes, container port names.

Prints one line per document that validates; exits 1 naming the document and the field when one
does not, 2 when the input is not YAML or the kubernetes module is missing.
"""

import re
import sys

try:
    import yaml
    from kubernetes import client
except ImportError as e:  # pragma: no cover - environment problem, not a manifest problem
    print(f"validate_manifests: {e}; install python3-kubernetes (scripts/install-deps.sh) and run "
          "with /usr/bin/python3", file=sys.stderr)
    sys.exit(2)

# The API group/version of each kind this validator knows. A kind missing here is refused rather
# than guessed.
API_VERSIONS = {
    "ConfigMap": "v1",
    "Namespace": "v1",
    "PersistentVolumeClaim": "v1",
    "Pod": "v1",
    "Secret": "v1",
    "Service": "v1",
    "ServiceAccount": "v1",
    "StatefulSet": "apps/v1",
    "Deployment": "apps/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "PodDisruptionBudget": "policy/v1",
    "Lease": "coordination.k8s.io/v1",
}

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class Invalid(Exception):
    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")


def is_dns_subdomain(value):
    return (isinstance(value, str) and 0 < len(value) <= 253
            and all(DNS_LABEL.match(part) for part in value.split(".")))


def type_name_of(value):
    return type(value).__name__


def build(value, declared, path):
    """Returns `value` as the model type `declared` (a python-kubernetes type string)."""
    if declared.startswith("list["):
        if not isinstance(value, list):
            raise Invalid(path, f"must be a list, not {type_name_of(value)}")
        inner = declared[5:-1]
        return [build(item, inner, f"{path}[{i}]") for i, item in enumerate(value)]
    if declared.startswith("dict("):
        if not isinstance(value, dict):
            raise Invalid(path, f"must be a mapping, not {type_name_of(value)}")
        inner = declared[declared.index(",") + 1:-1].strip()
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise Invalid(path, f"key {key!r} must be a string")
            out[key] = build(item, inner, f"{path}.{key}")
        return out
    if declared == "str":
        if not isinstance(value, str):
            raise Invalid(path, f"must be a string, not {type_name_of(value)} {value!r}")
        return value
    if declared == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(path, f"must be an integer, not {type_name_of(value)} {value!r}")
        return value
    if declared == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(path, f"must be a number, not {type_name_of(value)} {value!r}")
        return value
    if declared == "bool":
        if not isinstance(value, bool):
            raise Invalid(path, f"must be true or false, not {type_name_of(value)} {value!r}")
        return value
    if declared == "datetime":
        if not isinstance(value, str):
            raise Invalid(path, "must be an RFC 3339 time string")
        return value
    if declared == "object":
        # IntOrString (ports, maxUnavailable) and free-form values.
        if isinstance(value, bool) or value is None:
            raise Invalid(path, f"must be an integer or a string, not {value!r}")
        return value
    klass = getattr(client, declared, None)
    if klass is None:
        raise Invalid(path, f"validator does not know the type {declared}")
    if not isinstance(value, dict):
        raise Invalid(path, f"must be a mapping ({declared}), not {type_name_of(value)}")
    by_json_name = {json_name: attr for attr, json_name in klass.attribute_map.items()}
    kwargs = {}
    for key, item in value.items():
        if key not in by_json_name:
            known = ", ".join(sorted(by_json_name))
            raise Invalid(f"{path}.{key}" if path else key,
                          f"unknown field of {declared} (known: {known})")
        attr = by_json_name[key]
        if item is None:
            continue  # an explicit null is the same as leaving it out
        kwargs[attr] = build(item, klass.openapi_types[attr], f"{path}.{key}" if path else key)
    try:
        return klass(**kwargs)
    except ValueError as e:  # required field missing, value outside an enum
        raise Invalid(path or "(top level)", f"{declared}: {e}")


def check_labels(labels, path):
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if prefix and not is_dns_subdomain(prefix):
            raise Invalid(f"{path}.{key}", "label key prefix must be a DNS subdomain")
        if not name or len(name) > 63 or not LABEL_NAME.match(name):
            raise Invalid(f"{path}.{key}", "label key name must be 1-63 characters of [A-Za-z0-9-_.]")
        if not isinstance(value, str):
            raise Invalid(f"{path}.{key}", f"label value must be a string, not {value!r}")
        if value and (len(value) > 63 or not LABEL_NAME.match(value)):
            raise Invalid(f"{path}.{key}", f"label value {value!r} is not a valid label value")


def check_selector_matches(selector, labels, path):
    for key, value in ((selector or {}).get("matchLabels") or {}).items():
        if (labels or {}).get(key) != value:
            raise Invalid(path, f"selector {key}={value} does not match the pod template's labels")


def check_pod_spec(spec, path):
    volumes = {v.get("name") for v in spec.get("volumes") or []}
    return volumes, [
        (f"{path}.containers[{i}]", c) for i, c in enumerate(spec.get("containers") or [])
    ]


def check_containers(containers, volumes):
    for cpath, c in containers:
        port_names = set()
        for j, port in enumerate(c.get("ports") or []):
            name = port.get("name")
            if name is not None:
                if len(name) > 15 or not IANA_SVC_NAME.match(name) or not re.search("[a-z]", name):
                    raise Invalid(f"{cpath}.ports[{j}].name", f"{name!r} is not a valid port name")
                port_names.add(name)
        for j, mount in enumerate(c.get("volumeMounts") or []):
            if mount.get("name") not in volumes:
                raise Invalid(f"{cpath}.volumeMounts[{j}]",
                              f"names volume {mount.get('name')!r}, which is not declared")
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
            if isinstance(port, str) and port not in port_names:
                raise Invalid(f"{cpath}.{probe}.httpGet.port", f"names port {port!r}, which is not declared")


def check_api_rules(doc):
    """Rules the API server enforces that the typed models do not."""
    kind = doc["kind"]
    meta = doc.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise Invalid("metadata.name", "is required")
    if kind in ("Service", "Namespace"):
        if len(name) > 63 or not DNS_1035_LABEL.match(name):
            raise Invalid("metadata.name", f"{name!r} must be a DNS-1035 label for a {kind}")
    elif kind in ("StatefulSet", "Pod"):
        if len(name) > 63 or not DNS_LABEL.match(name):
            raise Invalid("metadata.name", f"{name!r} must be a DNS label for a {kind}")
    elif not is_dns_subdomain(name):
        raise Invalid("metadata.name", f"{name!r} must be a DNS subdomain")
    if "namespace" in meta and not DNS_LABEL.match(meta["namespace"] or ""):
        raise Invalid("metadata.namespace", f"{meta['namespace']!r} is not a valid namespace")
    check_labels(meta.get("labels"), "metadata.labels")
    spec = doc.get("spec") or {}
    if kind in ("StatefulSet", "Deployment"):
        template = spec.get("template") or {}
        check_labels((template.get("metadata") or {}).get("labels"), "spec.template.metadata.labels")
        check_selector_matches(spec.get("selector"), (template.get("metadata") or {}).get("labels"),
                               "spec.selector")
        volumes, containers = check_pod_spec(template.get("spec") or {}, "spec.template.spec")
        for claim in spec.get("volumeClaimTemplates") or []:
            volumes.add((claim.get("metadata") or {}).get("name"))
        check_containers(containers, volumes)
    if kind == "Pod":
        volumes, containers = check_pod_spec(spec, "spec")
        check_containers(containers, volumes)
    if kind == "PodDisruptionBudget":
        if "minAvailable" in spec and "maxUnavailable" in spec:
            raise Invalid("spec", "minAvailable and maxUnavailable are mutually exclusive")
    if kind == "Secret" and doc.get("type", "Opaque") == "Opaque":
        for field in ("data", "stringData"):
            for key in (doc.get(field) or {}):
                if not re.match(r"^[-._a-zA-Z0-9]+$", key):
                    raise Invalid(f"{field}.{key}", "is not a valid Secret key")


def validate(doc):
    if not isinstance(doc, dict):
        raise Invalid("(document)", f"must be a mapping, not {type_name_of(doc)}")
    kind = doc.get("kind")
    if not isinstance(kind, str) or kind not in API_VERSIONS:
        raise Invalid("kind", f"{kind!r} is not a kind this validator knows ({', '.join(sorted(API_VERSIONS))})")
    if doc.get("apiVersion") != API_VERSIONS[kind]:
        raise Invalid("apiVersion", f"{doc.get('apiVersion')!r} is wrong for {kind}: use {API_VERSIONS[kind]}")
    version = API_VERSIONS[kind].split("/")[-1]
    build(doc, version.capitalize() + kind, "")
    check_api_rules(doc)


def main(argv):
    source = argv[1] if len(argv) > 1 else "-"
    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        print(f"validate_manifests: cannot read {source}: {e}", file=sys.stderr)
        return 2
    if not docs:
        print(f"validate_manifests: {source} holds no documents", file=sys.stderr)
        return 1
    failed = 0
    for i, doc in enumerate(docs, 1):
        label = f"document {i}"
        if isinstance(doc, dict):
            label += f" ({doc.get('kind')} {(doc.get('metadata') or {}).get('name')})"
        try:
            validate(doc)
            print(f"ok: {label}")
        except Invalid as e:
            print(f"INVALID: {label}: {e}", file=sys.stderr)
            failed += 1
    if failed:
        print(f"validate_manifests: {failed} of {len(docs)} documents are invalid", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
