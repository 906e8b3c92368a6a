#!/usr/bin/env bash
# Train every model on a lent GPU machine in one command of at most 10 minutes; the weights,
# eval figures and logs come back in $OUT as split archives (at most 8 files of 16 MiB return).
#
#   here, once:  python -m restorable.data.carry --out carry/photos      (git-ignored, ~19 MB)
#   there:       bash scripts/gpu_train_all.sh          (device tool: carry=["carry"])
#   back here:   cat models.tgz.* | tar xz -C runs-gpu && restorable train --all ... --install
#
# wmf, rgf and retouch need opencv-contrib (cv2.ximgproc), which that machine lacks: they train
# on the CPU here. Environment knobs: MINUTES, OPS, VARIANTS, DEVICE, WORKERS, CONFIG, EXTRA.
#
# VARIANTS takes any of restorable.training.everything.VARIANTS, each on every op of OPS or, as
# VARIANT:OP+OP, on its own ops. The default is what the shipped guided models (trained on the
# CPU) lack: every op's learned model (the paper's design), a wider learned ψ beside it on l0 and
# llf, the paper's baselines (Table 1) on five ops and its ablations (Table 4) on l0: 24 models
# sharing the GPU at once. To retrain the guided models instead: VARIANTS=png,jpeg.
# Back here, python benchmarks/paper_tables.py --results runs-gpu/results prints the tables.
set -uo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-8}
OPS=${OPS:-wls,llf,l0,rtv,bwp,cpd,rain,scream,exposure}
FIVE=l0+llf+rtv+bwp+rain
VARIANTS=${VARIANTS:-learned,learned-wide:l0+llf,ied:$FIVE,stega:$FIVE,ablation-no-psi:l0,\
ablation-k4:l0,ablation-no-restore-loss:l0}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-out}
WORK=${WORK:-/tmp/restorable-all}
export PYTHONPATH=src RESTORABLE_PHOTOS=${RESTORABLE_PHOTOS:-carry/photos}
export RESTORABLE_CACHE=${RESTORABLE_CACHE:-/tmp/restorable-cache} OMP_NUM_THREADS=1
mkdir -p "$OUT" "$WORK"
{ nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null || echo "no GPU"; nproc; } \
    > "$OUT/machine.txt"
args=(train --all --device "$DEVICE" --ops "$OPS" --variants "$VARIANTS" --minutes "$MINUTES"
      --out "$WORK")
[ -n "${WORKERS:-}" ] && args+=(--workers "$WORKERS")
[ -n "${CONFIG:-}" ] && args+=(--config "$CONFIG")
[ -n "${EVAL_PHOTOS:-}" ] && args+=(--eval-photos "$EVAL_PHOTOS")
# e.g. EXTRA="--batch 32 --init-from carry/init" (weights an earlier loan brought back)
[ -n "${EXTRA:-}" ] && read -ra extra <<< "$EXTRA" && args+=("${extra[@]}")
# the budget covers pairs, training and eval; the timeout leaves time to pack what exists
timeout $(( ${MINUTES%.*} * 60 + 75 )) python -m restorable.cli "${args[@]}" > "$OUT/train.log" 2>&1
echo "exit $?" >> "$OUT/train.log"
# shipped weights and figures, every run's curve and config, and the trained (fp32) weights of
# any model whose evaluation did not finish in time (evaluate them back here)
unshipped=$(cd "$WORK" && for d in runs/*/; do n=$(basename "$d")
    [ -e "weights/$n.safetensors" ] || ls "$d$n.safetensors" "$d$n.json" 2>/dev/null; done)
tar czf "$WORK/models.tgz" -C "$WORK" $(cd "$WORK" && ls -d weights results summary.json \
    runs/*/log.jsonl runs/*/config.json 2>/dev/null) $unshipped
split -b 15M -d "$WORK/models.tgz" "$OUT/models.tgz."
ls -la "$OUT"
