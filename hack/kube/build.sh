#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver + etcd) from the Go module proxy into a cache
# outside the checkout, keyed by the pinned versions; a second run with the same pins does nothing.
# Prints the folder holding the binaries on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kube=$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")
etcd=$(awk '$1=="go.etcd.io/etcd/server/v3" && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")
cache=${CAPK_PODNET_CACHE:-$HOME/.cache/capk-podnet}
out="$cache/kube-$kube-etcd-$etcd"
if [[ -x "$out/kube-apiserver" && -x "$out/etcd" ]]; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { echo "go is needed to build kube-apiserver and etcd (see README)" >&2; exit 1; }
mkdir -p "$out.tmp"
echo "building kube-apiserver $kube and etcd $etcd into $out (first time: ~10-20 min on 2 cores)" >&2
cd "$here"
start=$(date +%s)
# Progress for a slow first build: go prints each package it compiles with -v.
log="$out.tmp/build.log"
progress() {
  local n=0
  while read -r _; do
    n=$((n + 1))
    if (( n % 200 == 0 )); then echo "  $1: $n packages compiled, $(( $(date +%s) - start ))s" >&2; fi
  done
}
minor=$(echo "$kube" | cut -d. -f2)
ldflags="-X k8s.io/component-base/version.gitVersion=$kube -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
if ! go build -trimpath -ldflags "$ldflags" -v -o "$out.tmp/" k8s.io/kubernetes/cmd/kube-apiserver 2>&1 | tee "$log" | progress kube-apiserver; then
  tail -n 40 "$log" >&2
  exit 1
fi
if ! go build -trimpath -v -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3 2>&1 | tee "$log" | progress etcd; then
  tail -n 40 "$log" >&2
  exit 1
fi
rm -f "$log"
test -x "$out.tmp/kube-apiserver" && test -x "$out.tmp/etcd"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out"
