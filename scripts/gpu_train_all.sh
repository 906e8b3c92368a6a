#!/usr/bin/env bash
# Train every model on a lent GPU machine in one command of at most 10 minutes; the weights,
# eval figures and logs come back in $OUT as split archives (at most 8 files of 16 MiB return).
#
#   here, once:  python -m restorable.data.carry --out carry/train   (git-ignored, 6.4 MiB:
#                half the training split at 512 px, what fits beside the 55 MiB tracked tree)
#   there:       bash scripts/gpu_train_all.sh          (device tool: carry=["carry/train"])
#   back here:   cat models.tgz.* | tar xz -C runs-gpu && restorable train --all ... --install
#
# With several GPUs, train --all --device cuda spreads the models over all of them (in turn,
# restorable/devices.py); CUDA_VISIBLE_DEVICES limits which.
# wmf, rgf and retouch need opencv-contrib (cv2.ximgproc), which that machine lacks: they train
# on the CPU here. Environment knobs: MINUTES, OPS, VARIANTS, DEVICE, WORKERS, CONFIG, EXTRA,
# BENCH=0 (skip the inference timings that run beside the pairs), PHOTOS (the carried folder;
# its every tenth photo is held out for the indicative eval there: measure back here).
#
# VARIANTS takes any of restorable.training.recipes.VARIANTS, each on every op of OPS or, as
# VARIANT:OP+OP, on its own ops. The default carries bwp (the one guided model below Table 1)
# and every op's learned model (the paper's design, the least trained) on from the shipped
# weights, in their architecture, at batch 32 (on an H100, four models at batch 32 made 4x the
# steps per minute of 24 at batch 16; their cards add these GPU minutes to the CPU ones), at
# configs/gpu-carry-on.json's rate (1e-4; carry-on.json's 3e-4 cost bwp, bwp-learned and
# llf-learned 0.9-3.4 dB of approximation in 4-9 GPU minutes). Other plans, e.g.:
#   VARIANTS=png,jpeg EXTRA= CONFIG=             the guided models, from scratch
#   VARIANTS=png,jpeg                            the guided models carried on from the shipped
#                      weights at that rate, each with its card's net and loss weights
#   VARIANTS=learned,ied:l0+llf,stega:l0+llf,ablation-k4:l0 EXTRA=     the paper's comparisons
# Back here, python benchmarks/paper_tables.py --results runs-gpu/results prints the tables.
# Last loan (H200, 2026-12-04): OPS=wls,llf,l0,rtv,bwp,rain,scream VARIANTS=learned, then
# MINUTES=4 WORK=/tmp/ra2 EXTRA="--batch 32 --init-from /tmp/restorable-all/weights" on the warm
# machine (pairs cached): 7 models at about 310 steps a minute each; measured back here, wls,
# rtv and scream-learned improved and shipped, l0, llf, bwp and rain-learned did not (cards).
# With a warm machine and time left, such a second call carries on from the first's weights.
set -uo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-8}
OPS=${OPS:-wls,llf,l0,rtv,bwp,cpd,rain,scream,exposure}
VARIANTS=${VARIANTS:-png:bwp,learned}
EXTRA=${EXTRA---batch 32 --init-from src/restorable/weights}
[[ "$EXTRA" == *--init-from* ]] && CONFIG=${CONFIG-configs/gpu-carry-on.json}  # CONFIG= for none
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-out}
WORK=${WORK:-/tmp/restorable-all}
PHOTOS=${PHOTOS:-carry/train}
export PYTHONPATH=src
export RESTORABLE_CACHE=${RESTORABLE_CACHE:-/tmp/restorable-cache} OMP_NUM_THREADS=1
mkdir -p "$OUT" "$WORK"
{ nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null || echo "no GPU"; nproc --all; } \
    > "$OUT/machine.txt"
args=(train --all --device "$DEVICE" --ops "$OPS" --variants "$VARIANTS" --minutes "$MINUTES"
      --out "$WORK")
[ -d "$PHOTOS" ] && args+=(--photos "$PHOTOS")  # else the split in $RESTORABLE_PHOTOS or ../shared
[ -n "${WORKERS:-}" ] && args+=(--workers "$WORKERS")
[ -n "${CONFIG:-}" ] && args+=(--config "$CONFIG")
[ -n "${EVAL_PHOTOS:-}" ] && args+=(--eval-photos "$EVAL_PHOTOS")
# e.g. EXTRA="--batch 32 --init-from carry/init" (weights an earlier loan brought back)
[ -n "${EXTRA:-}" ] && read -ra extra <<< "$EXTRA" && args+=("${extra[@]}")
# inference timings on this GPU with the shipped weights (#15), beside the pairs (which use the
# CPU cores, so the figures are if anything pessimistic): the network at 640x480 (eager fp32
# beside the chosen path) and a 24-megapixel photo (apply ~40 s on an H200, mostly the classic
# L0 guide on the CPU); at most 5 minutes, within the training's
if [ "$DEVICE" = cuda ] && [ "${BENCH:-1}" = 1 ]; then
    # the records (--json) are what docs/results.md is generated from: merge them into
    # results/bench_model.json and results/bench_megapixels.json back here
    busy=(--note "GPU loan, its CPU cores computing training pairs meanwhile")
    { timeout 40 python benchmarks/bench_model.py --op l0 --device cuda --repeats 20 \
          --json "$OUT/bench_model.json" "${busy[@]}"
      timeout 40 python benchmarks/bench_model.py --op l0-learned --device cuda --repeats 20 \
          --json "$OUT/bench_model.json" "${busy[@]}"
      timeout 150 python benchmarks/bench_megapixels.py --op l0 --sizes 0.3 24 --device cuda \
          --json "$OUT/bench_megapixels.json" "${busy[@]}"
      # the network alone at 24 MP (no guide): does bf16 win there? (fp32 did at 640x480)
      for p in auto fp32; do timeout 45 python benchmarks/bench_megapixels.py --op l0-learned \
          --sizes 24 --device cuda --precision $p --json "$OUT/bench_megapixels.json" \
          "${busy[@]}"; done
    } > "$OUT/bench-cuda.txt" 2>&1 &
fi
# the budget covers pairs, training and eval; the timeout leaves time to pack what exists
timeout $(( ${MINUTES%.*} * 60 + 75 )) python -m restorable.cli "${args[@]}" > "$OUT/train.log" 2>&1
echo "exit $?" >> "$OUT/train.log"
wait  # the timings
# shipped weights and figures, every run's curve and config, and the trained (fp32) weights of
# any model whose evaluation did not finish in time (evaluate them back here)
unshipped=$(cd "$WORK" && for d in runs/*/; do n=$(basename "$d")
    [ -e "weights/$n.safetensors" ] || ls "$d$n.safetensors" "$d$n.json" 2>/dev/null; done)
tar czf "$WORK/models.tgz" -C "$WORK" $(cd "$WORK" && ls -d weights results summary.json \
    runs/*/log.jsonl runs/*/config.json 2>/dev/null) $unshipped
split -b 15M -d "$WORK/models.tgz" "$OUT/models.tgz."
ls -la "$OUT"
