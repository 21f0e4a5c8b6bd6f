#!/usr/bin/env bash
# Puts what `scripts/gpu-check.sh` needs on a lent GPU machine into .device/ (git-ignored), which
# then travels with the working tree: the release binaries (stripped) and the few shared files the
# checks read. The shared folder does not travel by itself, and a carry is limited to 64 MiB, so
# only the upstream prediction files of the models that `bench infer` compares are taken.
#
#     scripts/device-pack.sh [SHARED]      # SHARED defaults to $BFPGM_REFERENCE, else ../shared
set -euo pipefail

SHARED=${1:-${BFPGM_REFERENCE:-../shared}}
[[ -f $SHARED/mirror/SHA256SUMS ]] || { echo "no mirror in $SHARED" >&2; exit 2; }

PATH="$PATH:$PWD/.venv/bin" cargo build --release --locked
rm -rf .device.tmp
mkdir -p .device.tmp/shared/fixtures/upstream-preds-mini
# The front and the torch binary it hands network commands to, side by side.
strip -o .device.tmp/reproduce target/release/reproduce
strip -o .device.tmp/reproduce-torch target/release/reproduce-torch
cp -r "$SHARED/mirror" .device.tmp/shared/mirror
cp "$SHARED/fixtures/upstream-mini-ap.json" "$SHARED/fixtures/grace_hopper.jpg" \
    .device.tmp/shared/fixtures/
for stem in EResFD-original EResFD-30-pruned EXTD-original; do
    cp -r "$SHARED/fixtures/upstream-preds-mini/$stem" .device.tmp/shared/fixtures/upstream-preds-mini/
done
chmod -R u+w .device.tmp
rm -rf .device
mv .device.tmp .device
du -sh .device
