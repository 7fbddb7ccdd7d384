#!/usr/bin/env bash
# Installs what the Patroni side of the benchmarks needs from Debian's packages, when missing:
# patroni (with python3-etcd, its etcd v2 client) and apache2-utils (ab, for the api scenario).
# Usage: bench/lib/install-patroni.sh   (as root, or as a user with sudo)
set -euo pipefail

need=()
command -v patroni >/dev/null 2>&1 || need+=(patroni)
command -v patronictl >/dev/null 2>&1 || need+=(patroni)
command -v ab >/dev/null 2>&1 || need+=(apache2-utils)
/usr/bin/python3 -c 'import etcd' >/dev/null 2>&1 || need+=(python3-etcd)
[ ${#need[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "install-patroni.sh: need root or sudo to install: ${need[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-patroni.sh: installing $(printf '%s\n' "${need[@]}" | sort -u | tr '\n' ' ')" >&2
"${sudo[@]}" apt-get update -qq
# shellcheck disable=SC2046
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
command -v patroni >/dev/null && command -v ab >/dev/null || {
  echo "install-patroni.sh: patroni or ab still missing after apt-get install" >&2; exit 1; }
