#!/usr/bin/env bash
# Builds the course's single-user image: hub/image/build.sh [TAG]  (run as root, from anywhere)
#
#   1. debootstrap makes a Debian 12 (bookworm) root file system with Python 3.11, venv,
#      bubblewrap and git (MIRROR=..., default deb.debian.org), imported as $BASE;
#   2. podman builds hub/image/Containerfile on it (the course folder is the context): the
#      course's environment by hub/make-env.sh, a non-root user jovyan (uid 1000).
#
# TAG defaults to localhost/bnlab-singleuser:<bnlab's version>. WHEELS=/some/dir offers a folder of
# wheels (say torch's CPU build) to pip inside the build; TORCH_INDEX as in hub/make-env.sh;
# CA_BUNDLE and PODMAN_OPTS below.
# Needs debootstrap and podman (Debian: apt-get install debootstrap podman). Push the result to
# the registry that values.yaml's singleuser.image names: podman push TAG REGISTRY/...:TAG
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
tag=${1:-localhost/bnlab-singleuser:$version}
base=${BASE:-localhost/bnlab-debian:bookworm}
mirror=${MIRROR:-http://deb.debian.org/debian}
work=${WORK:-/var/tmp/bnlab-image}

for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (apt-get install $tool)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "build.sh: run as root (debootstrap needs it)" >&2; exit 2; }

if ! podman image exists "$base"; then
  rm -rf "$work/rootfs"
  mkdir -p "$work"
  debootstrap --variant=minbase \
    --include=python3,python3-venv,bubblewrap,git,ca-certificates,tzdata \
    bookworm "$work/rootfs" "$mirror"
  chroot "$work/rootfs" apt-get clean
  rm -rf "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/cache/apt/*.bin
  tar -C "$work/rootfs" --numeric-owner -c . | podman import --change 'CMD ["/bin/bash"]' - "$base"
  rm -rf "$work/rootfs"
fi

# PODMAN_OPTS: extra options for the build's containers, e.g. where crun refuses hybrid cgroups
# and containers may not raise rlimits (so it was on the machine this recipe was tested on):
# PODMAN_OPTS='--runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096'
read -r -a podman_opts <<<"${PODMAN_OPTS:-}"
extra=()
if [ -n "${WHEELS:-}" ]; then
  extra+=(--volume "$WHEELS:/wheels:ro" --build-arg WHEELS=/wheels)
fi
# CA_BUNDLE: a certificate bundle for pip inside the build, where PyPI is reached through a proxy
# with a certificate authority of its own (so it was here: CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt)
if [ -n "${CA_BUNDLE:-}" ]; then
  extra+=(--volume "$CA_BUNDLE:/run/bnlab-ca.crt:ro" --build-arg CA_BUNDLE=/run/bnlab-ca.crt)
fi
# the build context: only what the image needs (not the course folder's venv, build or solutions)
ctx="$work/context"
rm -rf "$ctx"
mkdir -p "$ctx/hub"
cp -r requirements.txt pyproject.toml README.md src "$ctx/"
cp hub/make-env.sh hub/requirements.txt hub/nbgrader_config.py "$ctx/hub/"
find "$ctx" -name __pycache__ -prune -exec rm -rf {} +
podman build "${podman_opts[@]}" --network host --file hub/image/Containerfile --build-arg BASE="$base" \
  --build-arg TORCH_INDEX="${TORCH_INDEX-https://download.pytorch.org/whl/cpu}" \
  "${extra[@]}" --tag "$tag" "$ctx"
rm -rf "$ctx"
podman image inspect --format '{{.Id}} {{.Size}}' "$tag"
echo "built $tag"
