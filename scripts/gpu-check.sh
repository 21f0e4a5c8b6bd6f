#!/usr/bin/env bash
# The GPU checks of `reproduce`: one prepared script for a lent CUDA machine, whose time is short
# (DEVELOPERS.md). On the build machine, `scripts/device-pack.sh` puts the release binary and the
# files it needs into .device/ (git-ignored); the device then runs, from the repository root:
#
#     OUT=/tmp/out scripts/gpu-check.sh                # every area, in the order below
#     OUT=/tmp/out scripts/gpu-check.sh train eval     # some areas
#
# Areas, each written to $OUT/<area>.txt and bounded by its own time limit, so that one slow or
# failing area never costs the others their turn:
#   smoke   CUDA is really used, loaded on demand: nvidia-smi, torch's version, `detect --device
#           cuda` on the photo and one `eval --device cuda` on the mini set (an error, exit 2,
#           if CUDA cannot be loaded), and `zoo list` loads no CUDA library
#   train   training images/s on CUDA (float32, --amp, pinned batches, loader at the training
#           thread's priority) beside upstream's 141 images/s on one H100, then a short
#           pre-training run that checkpoints and resumes on the GPU
#   eval    upstream's inference protocol per image on CUDA (EResFD and EXTD) and on this
#           machine's CPU, with the predictions compared with upstream's files (eresfd-30 with
#           upstream's 2 libtorch threads: does another CPU's kernels reproduce its tie orders?)
#   prune   `pipeline --quick` on CUDA from eresfd-original: the wall time of every stage, the
#           new model's tables row and mini-set APs; a second call finds every stage complete
#   diag    (only when named) a short CUDA training with synchronous kernel launches, to name
#           the operation behind a CUDA fault
#   loader  (only when named) the training data loader's images/s at 1, 2, 4, 8 and 16 threads
#           on this host's CPUs: where it stops scaling
#   fuse    (only when named) BO trial-images/s of K = 1, 4, 8, 16 fused trials (`bench train
#           --fuse K`, hence trial-epochs per hour), then a small fused search (`bo --fuse 4`)
#   parity  all nine zoo models evaluated on CUDA in float32 (no TF32) on the mini val set, the
#           APs beside upstream's
#
# Inputs: $REPRODUCE (default .device/reproduce, else target/release/reproduce; reproduce-torch
# beside it); the mirror and
# the reference folder from $BFPGM_MIRROR / $BFPGM_REFERENCE, else .device/shared, else
# ../shared. The exit status is the number of areas that failed.
set -uo pipefail

OUT=${OUT:?set OUT to the folder that receives the results}
mkdir -p "$OUT"
if [[ -z ${REPRODUCE:-} ]]; then
    if [[ -x .device/reproduce ]]; then REPRODUCE=.device/reproduce; else REPRODUCE=target/release/reproduce; fi
fi
if [[ -d .device/shared ]]; then SHARED=.device/shared; else SHARED=../shared; fi
export BFPGM_MIRROR=$(realpath "${BFPGM_MIRROR:-$SHARED/mirror}")
export BFPGM_REFERENCE=$(realpath "${BFPGM_REFERENCE:-$SHARED}")
export BFPGM_DATA=${BFPGM_DATA:-$(mktemp -d)}

# The binaries were linked against the project's libtorch; on the device the same version comes
# from python3's torch wheel, which carries libtorch_cuda (loaded on demand from the folder
# libtorch_cpu came from) and finds its CUDA libraries itself.
if TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null); then
    export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

R() { "$REPRODUCE" "$@"; }

smoke() {
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
    echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
    echo "avx512: $(grep -o 'avx512[a-z]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
    R fetch models wider-gt wider-mini
    # The front loads neither libtorch nor CUDA; the torch binary loads CUDA only when asked.
    LD_DEBUG=libs R zoo list 2>&1 >/dev/null | grep -c 'calling init: .*\(torch\|cuda\)' \
        | sed 's/^/zoo list, torch or CUDA libraries loaded: /'
    # --device cuda is CUDA or exit 2 with the reason: a nonzero status here fails the area.
    R detect --model eresfd-original --device cuda --out "$OUT/smoke-detect" \
        "$BFPGM_REFERENCE/fixtures/grace_hopper.jpg" || return 1
    R eval eresfd-original --device cuda --images "$BFPGM_DATA/WIDER-mini/WIDER_val/images" \
        --subset --out "$OUT/smoke-eval" || return 1
    R bench startup --runs 3
}

train() {
    local wider="$BFPGM_DATA/WIDER-mini"
    # Upstream PyTorch: about 141 images/s on one H100 (batch 16, 640x640); goal: 5x, data
    # loading included.
    R bench train --device cuda --wider "$wider" --batch 16 --steps 30 --warmup 5
    R bench train --device cuda --wider "$wider" --batch 16 --steps 30 --warmup 5 --amp
    # Pinned batches, which training does not use (see LoaderConfig::pin): still slower?
    R bench train --device cuda --wider "$wider" --batch 16 --steps 30 --warmup 5 --pin
    # Loader threads at the training thread's priority (training nices them by 10 on CUDA).
    R bench train --device cuda --wider "$wider" --batch 16 --steps 30 --warmup 5 --loader-nice 0
    local run="$BFPGM_DATA/runs/pretrain"
    R pretrain --arch eresfd --device cuda --wider "$wider" --out "$run" \
        --epochs 2 --max-images 96 --max-val-images 32 --log-every 2
    R pretrain --arch eresfd --device cuda --wider "$wider" --out "$run" \
        --epochs 3 --resume --log-every 2
    test -f "$run/epoch-002.pth"
    cat "$run/epochs.csv"
}

eval_speed() {
    for model in eresfd-original extd-original; do
        R bench infer --model "$model" --device cuda --repeat 2
    done
    R bench infer --model eresfd-original --device cpu
    # Upstream's mini-set files were made on the CPU with 2 libtorch threads; the models with
    # large tie groups (eresfd-20..50) match them only where the convolution kernels do too.
    R bench infer --model eresfd-30 --device cpu --workers 8 --threads 2
}

prune() {
    local run="$BFPGM_DATA/runs/pipeline"
    local pipeline=(pipeline --arch eresfd --target 0.3 --from eresfd-original --quick
        --device cuda --eval mini --out "$run")
    R "${pipeline[@]}"
    test -f "$run/finetune/model.pth" -a -f "$run/finetune/model.json"
    R "${pipeline[@]}" --quiet
}

# After a CUDA fault: the same short training with every kernel launched synchronously, so the
# error names the operation that faulted.
diag() {
    CUDA_LAUNCH_BLOCKING=1 RUST_BACKTRACE=1 R pretrain --arch eresfd --device cuda \
        --wider "$BFPGM_DATA/WIDER-mini" --out "$BFPGM_DATA/runs/diag" --epochs 1 \
        --max-images 32 --no-val --log-every 1
}

loader() {
    R bench loader --wider "$BFPGM_DATA/WIDER-mini" --threads 1,2,4,8,16 --batches 20
}

fuse() {
    local wider="$BFPGM_DATA/WIDER-mini"
    for k in 1 4 8 16; do
        R bench train --device cuda --wider "$wider" --batch 16 --steps 20 --warmup 3 --fuse "$k"
    done
    R bo --arch eresfd --pretrained eresfd-original --target 0.3 --devices cuda --fuse 4 \
        --n-init-points 3 --n-opt-iterations 4 --max-images 48 --wider "$wider" \
        --out "$BFPGM_DATA/runs/bo-fused"
    cat "$BFPGM_DATA/runs/bo-fused/optimization_results.csv"
}

parity() {
    NVIDIA_TF32_OVERRIDE=0 R eval --all --subset --device cuda \
        --images "$BFPGM_DATA/WIDER-mini/WIDER_val/images" --out "$OUT/parity"
}

# Seconds each area may take: the device's whole loan is 15 minutes, start-up included.
declare -A LIMIT=([smoke]=60 [train]=240 [eval]=90 [prune]=90 [diag]=60 [parity]=100
    [loader]=60 [fuse]=180)
declare -A FUNC=([smoke]=smoke [train]=train [eval]=eval_speed [prune]=prune [diag]=diag
    [parity]=parity [loader]=loader [fuse]=fuse)

areas=("$@")
[[ ${#areas[@]} -gt 0 ]] || areas=(smoke train eval prune parity)
failed=0
for area in "${areas[@]}"; do
    if [[ -z ${FUNC[$area]:-} ]]; then
        echo "unknown area '$area'; known: smoke train eval prune diag parity loader fuse" >&2
        exit 64
    fi
    start=$SECONDS
    export -f R smoke train eval_speed prune diag parity loader fuse
    export REPRODUCE OUT
    timeout "${LIMIT[$area]}" bash -euo pipefail -c "${FUNC[$area]}" >"$OUT/$area.txt" 2>&1
    status=$?
    verdict=ok
    [[ $status -eq 0 ]] || { verdict="FAILED (exit $status)"; failed=$((failed + 1)); }
    echo "== $area: $verdict in $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
done
exit "$failed"
