#!/usr/bin/env bash
# Builds the pgpilot image from the Dockerfile on a machine without a container registry: a Debian
# bookworm root filesystem made with debootstrap is imported with `podman import` and used as the
# Dockerfile's base image. Run as root. Where a registry is reachable, `docker build .` is enough.
#
#   scripts/build-image.sh [--tag pgpilot:0.1.0] [--save FILE.tar]
#
# --save writes the image as an archive for `kind load image-archive`, `k3s ctr images import`
# or `minikube image load`. The debootstrap'd base is cached in $PGPILOT_IMAGE_CACHE
# (default /var/cache/pgpilot-image) and reused.
set -euo pipefail

cd "$(dirname "$0")/.."
tag="pgpilot:$(sed -n 's/^project(pgpilot VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
save=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --save) save="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "build-image: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "build-image: run as root (debootstrap and podman's vfs storage need it)" >&2
  exit 1
fi

mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache="${PGPILOT_IMAGE_CACHE:-/var/cache/pgpilot-image}"
base="localhost/pgpilot-base:bookworm"
# Flags that work with Debian's podman 4.3 on this kind of machine (docs: platform notes).
podman=(podman --storage-driver vfs --cgroup-manager cgroupfs --runtime runc)
limits=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

need=()
for p in podman runc debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "build-image: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

started=$(date +%s)
if ! "${podman[@]}" image exists "$base"; then
  mkdir -p "$cache"
  if [ ! -f "$cache/bookworm.tar" ]; then
    rootfs="$cache/rootfs"
    rm -rf "$rootfs"
    echo "build-image: debootstrap bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror"
    # What a base image trims: downloaded packages and lists.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" --numeric-owner -cf "$cache/bookworm.tar.partial" .
    mv "$cache/bookworm.tar.partial" "$cache/bookworm.tar"
    rm -rf "$rootfs"
  fi
  echo "build-image: importing the base as $base"
  "${podman[@]}" import --change 'CMD ["/bin/bash"]' "$cache/bookworm.tar" "$base"
fi

echo "build-image: building $tag"
"${podman[@]}" build "${limits[@]}" --network host --build-arg "DEBIAN_IMAGE=$base" \
  --tag "$tag" --file Dockerfile .

# The image starts the agent as PID 1 and answers --version.
"${podman[@]}" run --rm "${limits[@]}" --network none "$tag" --version

if [ -n "$save" ]; then
  "${podman[@]}" save --format docker-archive --output "$save" "$tag"
  echo "build-image: saved $tag to $save"
fi
echo "build-image: $tag built in $(( $(date +%s) - started )) s"
