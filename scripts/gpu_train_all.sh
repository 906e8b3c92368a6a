#!/usr/bin/env bash
# Train every model on a lent GPU machine in one command of at most 10 minutes; the weights,
# eval figures and logs come back in $OUT as split archives (at most 8 files of 16 MiB return).
#
#   here, once:  python -m restorable.data.carry --out carry/photos      (git-ignored, ~19 MB)
#   there:       bash scripts/gpu_train_all.sh          (device tool: carry=["carry"])
#   back here:   cat models.tgz.* | tar xz -C runs-gpu && restorable train --all ... --install
#
# wmf, rgf and retouch need opencv-contrib (cv2.ximgproc), which that machine lacks: they train
# on the CPU here. Environment knobs: MINUTES, OPS, VARIANTS, DEVICE, WORKERS, CONFIG.
#
# VARIANTS takes any of restorable.training.everything.VARIANTS. The default trains the shipped
# models; the paper's baselines (Table 1) and ablations (Table 4) are opt-in, e.g.
#   VARIANTS=png,jpeg,learned,ied,stega OPS=l0,llf bash scripts/gpu_train_all.sh
#   VARIANTS=learned,ablation-no-psi,ablation-k4,ablation-no-restore-loss OPS=l0 bash ...
# Each variant adds one model per operator to the same MINUTES, so keep OPS short when adding
# them. Back here, python benchmarks/paper_tables.py --results runs-gpu/results prints the tables.
set -uo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-7}
OPS=${OPS:-wls,llf,l0,rtv,bwp,cpd,rain,scream,exposure}
VARIANTS=${VARIANTS:-png,jpeg,learned}
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
# the budget covers pairs, training and eval; the timeout leaves time to pack what exists
timeout $(( ${MINUTES%.*} * 60 + 75 )) python -m restorable.cli "${args[@]}" > "$OUT/train.log" 2>&1
echo "exit $?" >> "$OUT/train.log"
tar czf "$WORK/models.tgz" -C "$WORK" weights results summary.json \
    $(cd "$WORK" && ls runs/*/log.jsonl runs/*/config.json 2>/dev/null)
split -b 15M -d "$WORK/models.tgz" "$OUT/models.tgz."
ls -la "$OUT"
