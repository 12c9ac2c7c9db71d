#!/usr/bin/env bash
# Generates KubeVirt's VirtualMachine, VirtualMachineInstance and VirtualMachineInstanceMigration
# CRDs with KubeVirt's own constructors (virt-operator's components package) at the version pinned
# in go.mod, into a cache outside the checkout; a second run with the same pin does nothing.
# Prints the folder holding the CRDs on its last line.
#
# Why the components package is assembled here instead of imported: importing it pulls
# pkg/virt-operator/util → pkg/controller → kubevirt.io/virt-template-api, which the module proxy
# refuses (403). The CRD constructors need only crds.go and validations_generated.go (both
# self-contained apart from kubevirt.io/api and pkg/pointer), so those two files are taken unmodified
# from the pinned module into a throwaway build folder next to main.go. Nothing is copied into the
# checkout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '$1=="kubevirt.io/kubevirt"{print $2; exit}' "$here/go.mod")
cache=${CAPK_PODNET_CACHE:-$HOME/.cache/capk-podnet}
out="$cache/upstream-crds/kubevirt-$version"
crds=(virtualmachines virtualmachineinstances virtualmachineinstancemigrations)

complete() {
  for plural in "${crds[@]}"; do [[ -s "$out/kubevirt.io_$plural.yaml" ]] || return 1; done
}
if complete; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || { echo "go is needed to generate KubeVirt's CRDs (see README)" >&2; exit 1; }
mkdir -p "$cache/upstream-crds"
# Two test runs starting at once must not build into the same folder.
exec 9>"$out.lock"
flock 9
if complete; then
  echo "$out"
  exit 0
fi

echo "generating KubeVirt $version CRDs into $out (first time: ~3-5 min on 2 cores)" >&2
start=$(date +%s)
build="$out.build"
rm -rf "$build" && mkdir -p "$build/components"
cp "$here/go.mod" "$here/go.sum" "$here/main.go" "$build/"
module_dir=$(cd "$build" && go mod download -json "kubevirt.io/kubevirt@$version" | awk -F'"' '$2=="Dir"{print $4}')
[[ -d "$module_dir" ]] || { echo "kubevirt.io/kubevirt@$version: module not downloaded" >&2; exit 1; }
src="$module_dir/pkg/virt-operator/resource/generate/components"
cp "$src/crds.go" "$src/validations_generated.go" "$build/components/"
chmod u+w "$build/components/"*
(cd "$build" && go build -trimpath -o "$build/kubevirt-crds" .)
rm -rf "$out.tmp"
"$build/kubevirt-crds" "$out.tmp"
rm -rf "$out" && mv "$out.tmp" "$out"
rm -rf "$build"
complete
echo "generated in $(( $(date +%s) - start ))s" >&2
echo "$out"
