#!/usr/bin/env bash
# GPU check of `reproduce eval` (issue 4), for a machine with an NVIDIA GPU.
#
# What it does, writing everything under $OUT:
#   1. bench-<model>-cuda.txt: `reproduce bench infer --device cuda` on the 50 mini val images
#      for EResFD and EXTD (per-stage time per image, wall clock per image, the goal of
#      0.1 s per image for EResFD, and how the predictions compare with upstream's CPU files);
#   2. bench-eresfd-original-cpu.txt: the same on this machine's CPU, as the baseline;
#   3. eval-cuda.txt (+ eval-cuda/): all nine zoo models on CUDA in float32, their mini-set APs
#      beside upstream's (`max |diff|`), the JSON report and the PR curves: the parity check.
#
# Usage, from the repository root, with target/release/reproduce built on the project machine
# (carry it along) and a python3 that has torch 2.11 installed (the CUDA 13 wheel):
#   OUT=/tmp/out scripts/gpu-check.sh
# The shared folder (mirror + fixtures) is taken from $BFPGM_MIRROR / $BFPGM_REFERENCE, else
# from shared/ in the repository, else from ../shared.
set -euo pipefail

OUT=${OUT:?set OUT to the folder that receives the results}
BIN=${BIN:-target/release/reproduce}
if [[ -d shared/mirror ]]; then SHARED=shared; else SHARED=../shared; fi
MIRROR=${BFPGM_MIRROR:-$SHARED/mirror}
REFERENCE=${BFPGM_REFERENCE:-$SHARED}
mkdir -p "$OUT"

# The binary was linked against the project's libtorch; use the same version from the remote
# python3's torch wheel (it carries libtorch_cuda and finds its CUDA libraries itself).
TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
    nproc
} > "$OUT/machine.txt" 2>&1

DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT
"$BIN" --data-dir "$DATA" --mirror "$MIRROR" fetch wider-val-mini wider-gt models \
    > "$OUT/fetch.txt" 2>&1

for model in eresfd-original extd-original; do
    "$BIN" --data-dir "$DATA" bench infer --model "$model" --device cuda --repeat 3 \
        --reference "$REFERENCE" 2>"$OUT/bench-$model-cuda.log" | tee "$OUT/bench-$model-cuda.txt"
done
"$BIN" --data-dir "$DATA" bench infer --model eresfd-original --device cpu \
    --reference "$REFERENCE" 2>"$OUT/bench-eresfd-original-cpu.log" \
    | tee "$OUT/bench-eresfd-original-cpu.txt"

# float32 convolutions (no TF32, which libtorch allows in cuDNN by default), to compare with
# upstream's float32 CPU files.
NVIDIA_TF32_OVERRIDE=0 "$BIN" --data-dir "$DATA" eval --all --subset --device cuda \
    --images "$DATA/WIDER-mini/WIDER_val/images" --out "$OUT/eval-cuda" \
    2>"$OUT/eval-cuda.log" | tee "$OUT/eval-cuda.txt"
