#!/usr/bin/env bash
# Prints a folder with Cluster API's Cluster, Machine, IPAddressClaim and IPAddress CRDs, copied
# from the sigs.k8s.io/cluster-api Go module at the pinned version into a cache outside the
# checkout (keyed by version). Every test run installs them; the types package is generated
# from them.
set -euo pipefail
module=sigs.k8s.io/cluster-api
version=v1.14.2
cache=${CAPK_PODNET_CACHE:-$HOME/.cache/capk-podnet}
out="$cache/crds/cluster-api-$version"
files=(cluster.x-k8s.io_clusters.yaml cluster.x-k8s.io_machines.yaml
  ipam.cluster.x-k8s.io_ipaddressclaims.yaml ipam.cluster.x-k8s.io_ipaddresses.yaml)
if [[ ! -f "$out/.complete" ]]; then
  dir=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "$module@$version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n "$dir" ]] || { echo "capi/crds.sh: go mod download $module@$version failed" >&2; exit 1; }
  # The CRDs moved to core/ in v1.14.
  src="$dir/core/config/crd/bases"
  [[ -d "$src" ]] || src="$dir/config/crd/bases"
  # A private temp folder, renamed into place: concurrent runs never see a half-copied folder.
  mkdir -p "$cache/crds"
  tmp=$(mktemp -d "$out.XXXXXX")
  for f in "${files[@]}"; do cp "$src/$f" "$tmp/$f"; done
  chmod u+w "$tmp"/* && touch "$tmp/.complete"
  if [[ -f "$out/.complete" ]]; then rm -rf "$tmp"; else rm -rf "$out" && mv -T "$tmp" "$out"; fi
fi
echo "$out"
