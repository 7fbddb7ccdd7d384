#!/usr/bin/env bash
# Installs the Debian packages pgpilot needs to build, test and run; does nothing when all are present.
set -euo pipefail

packages=(
  build-essential cmake pkgconf
  libcpp-httplib-dev libcurl4-openssl-dev libssl-dev openssl libpq-dev nlohmann-json3-dev
  libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev libsqlite3-dev
  libgtest-dev libgmock-dev
  clang libclang-rt-14-dev llvm-14   # make fuzz: clang++, libFuzzer and its sanitizers, llvm-symbolizer
  postgresql-15 postgresql-client-15
  etcd-server etcd-client iproute2 iptables procps
  bc curl python3 python3-kubernetes
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
