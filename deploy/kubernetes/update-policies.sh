#!/usr/bin/env bash
# Copies the repository's policies and policy configuration into this folder, where kustomize
# can read them (it cannot read files outside the kustomization's folder):
#   ../../policies/**/*.rego (without tests and the mock input) -> policies/
#   ../../data/image_policy/config.yaml                        -> data/image_policy/config.yaml
# Run it after changing the policies; then add new files to kustomization.yaml if any are listed.
# test/manifests.test.ts fails while the copies differ from the originals.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rm -rf "$here/policies" "$here/data"
cd "$repo/policies"
find . -name '*.rego' ! -name '*_test.rego' ! -path './mock/*' | sort | while read -r f; do
  mkdir -p "$here/policies/$(dirname "$f")"
  cp "$f" "$here/policies/$f"
  echo "      - policies/${f#./}"
done
mkdir -p "$here/data/image_policy"
cp "$repo/data/image_policy/config.yaml" "$here/data/image_policy/config.yaml"
echo "policies and data/image_policy/config.yaml copied; the lines above are the policy files for kustomization.yaml" >&2
