#!/usr/bin/env bash
# One-time machine setup for the demo and the tests (idempotent; a second run only checks):
# Debian packages (OVN/OVS, netns tools), npm packages, the Go-built test control plane
# (kube-apiserver + etcd, cached by version outside the checkout) and upstream CRDs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
step() { echo "==> $* ($(date +%T))"; }

step "Debian packages"
packages=(ovn-central ovn-host openvswitch-switch busybox ethtool iproute2 iputils-ping tcpdump openssl)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || { echo "run as root to install: ${missing[*]}" >&2; exit 1; }
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

step "npm packages"
if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi

step "test control plane: kube-apiserver + etcd from the Go module proxy"
bash hack/kube/build.sh

step "upstream CRDs from Go modules"
bash hack/upstream/crds.sh
