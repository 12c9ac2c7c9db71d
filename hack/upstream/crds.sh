#!/usr/bin/env bash
# Prints the folders of upstream CRDs that every test run installs, one per line. Each component
# folder here (capi/, kubevirt/, …) has a crds.sh that fetches or generates its CRDs from its Go
# module at a pinned version into a cache outside the checkout and prints that folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for script in "$here"/*/crds.sh; do
  [[ -e "$script" ]] || continue
  bash "$script"
done
