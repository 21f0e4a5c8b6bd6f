#!/usr/bin/env bash
# GPU checks for `reproduce`, run on a CUDA machine from the repository root:
#
#     scripts/gpu-check.sh            # every area
#     scripts/gpu-check.sh train      # one area
#
# Each area is one function below; they print what they measure and exit non-zero on failure.
# The binary is $REPRODUCE (default: target/release/reproduce, built with `cargo build
# --release`). Data goes to $BFPGM_DATA (default: a temporary folder); the mini WIDER set is
# fetched there from $BFPGM_MIRROR when missing.
set -euo pipefail

REPRODUCE=${REPRODUCE:-target/release/reproduce}
DATA=${BFPGM_DATA:-$(mktemp -d)}

# Training on CUDA: throughput (float32 and mixed precision) beside upstream's figure, then a
# short pre-training run that validates, checkpoints and resumes on the GPU.
train_checks() {
    echo "== train: CUDA throughput and a short run"
    if [ ! -d "$DATA/WIDER-mini/WIDER_train" ]; then
        "$REPRODUCE" --data-dir "$DATA" fetch wider-mini
    fi
    local wider="$DATA/WIDER-mini"
    # Upstream PyTorch: about 141 images/s on one H100 (batch 16, 640x640); goal: 5x, data
    # loading included.
    "$REPRODUCE" bench train --device cuda --wider "$wider" --batch 16 --steps 100 --warmup 10
    "$REPRODUCE" bench train --device cuda --wider "$wider" --batch 16 --steps 100 --warmup 10 --amp
    local run
    run=$(mktemp -d)/run
    "$REPRODUCE" pretrain --arch eresfd --device cuda --wider "$wider" --out "$run" \
        --epochs 2 --max-images 96 --max-val-images 32 --log-every 2
    "$REPRODUCE" pretrain --arch eresfd --device cuda --wider "$wider" --out "$run" \
        --epochs 3 --resume --log-every 2
    test -f "$run/epoch-002.pth"
    cat "$run/epochs.csv"
    "$REPRODUCE" pretrain --arch eresfd --device cuda --wider "$wider" --out "$run-amp" \
        --epochs 1 --max-images 96 --no-val --amp --log-every 2
    "$REPRODUCE" pretrain --arch extd --device cuda --wider "$wider" --out "$run-extd" \
        --epochs 1 --max-images 32 --max-val-images 16 --log-every 4
    echo "== train: ok"
}

# B-FPGM's pipeline on CUDA: `pipeline --quick` from eresfd-original, which prints the wall time
# of every stage and the new model's APs on the 50 mini val images beside the zoo models'; a
# second call that finds every stage complete; and, with two GPUs or more, a search that runs one
# trial per GPU.
prune_checks() {
    echo "== prune: pipeline --quick on CUDA"
    "$REPRODUCE" --data-dir "$DATA" fetch wider-mini wider-gt eresfd-original
    local run
    run=$(mktemp -d)/pipeline
    local pipeline=(--data-dir "$DATA" pipeline --arch eresfd --target 0.3 --from eresfd-original
        --quick --device cuda --eval mini --out "$run")
    "$REPRODUCE" "${pipeline[@]}" | tee "$run.log"
    grep -q "^  finetune  ran" "$run.log"
    test -f "$run/finetune/model.pth" -a -f "$run/finetune/model.json"
    "$REPRODUCE" "${pipeline[@]}" --quiet | grep "^  [a-z]*  *\(complete\|skipped\)"
    local gpus
    gpus=$(nvidia-smi -L | wc -l)
    if [ "$gpus" -ge 2 ]; then
        echo "== prune: a search with one trial per GPU ($gpus GPUs)"
        local devices
        devices=$(seq -s, -f "cuda:%g" 0 $((gpus - 1)))
        "$REPRODUCE" --data-dir "$DATA" bo --arch eresfd --pretrained eresfd-original --target 0.3 \
            --wider "$DATA/WIDER-mini" --max-images 96 --n-init-points "$gpus" \
            --n-opt-iterations "$gpus" --devices "$devices" --out "$run-bo"
        cat "$run-bo/optimization_results.csv"
    fi
    echo "== prune: ok"
}

main() {
    local areas=("$@")
    if [ ${#areas[@]} -eq 0 ]; then
        areas=(train prune)
    fi
    for area in "${areas[@]}"; do
        case "$area" in
            train) train_checks ;;
            prune) prune_checks ;;
            *) echo "unknown area '$area'; known: train, prune" >&2; exit 2 ;;
        esac
    done
}

main "$@"
