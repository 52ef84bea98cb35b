#!/usr/bin/env bash
# Installs the Debian packages bwsim needs, only those that are missing.
# Safe to run repeatedly; uses sudo when not root.
set -euo pipefail

packages=(
  g++ cmake make pkg-config
  libboost1.81-dev libboost-program-options1.81-dev libboost-json1.81-dev
  libboost-mpi1.81-dev libboost-serialization1.81-dev openmpi-bin
  python3 python3-matplotlib
  libfmt-dev libtoml11-dev zlib1g-dev
  libgtest-dev libbenchmark-dev librapidcheck-dev
)
# Extra packages a script needs beyond the build (scripts/fuzz: clang and its libFuzzer runtime).
read -r -a extra <<<"${BWSIM_EXTRA_PACKAGES:-}"
packages+=("${extra[@]}")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup-deps: installing ${missing[*]}" >&2
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
