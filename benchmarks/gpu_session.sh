#!/usr/bin/env bash
# One GPU session's checks and figures for the learned-prior work (docs/learned.md, "GPU"):
#   1. the test suite with the CUDA parametrisations (tests/conftest.py adds "cuda" when present);
#   2. benchmarks/sampler_overhead.py on the GPU (DPS step / bare UNet forward+backward);
#   3. patches32 training resumed on the GPU from its CPU checkpoint (--minutes TRAIN_MIN);
#   4. restorations on the GPU: patches32 (zeta chosen on fit patches, then deblur at both
#      sigma_y), the digits at sigma_y 0.05 for SR x2 / SR x4 / inpainting, the paper's three zeta
#      presets on deblurring, and the CPU deblur run's exact arguments (images per second).
# Phases run in that order, each under its own time cap, and a phase is skipped once the
# session's deadline (DEADLINE_S seconds after the start) is near, so a cut session still keeps
# what it finished. Everything lands in WORK (run folders, logs, the weights, the checkpoint).
#
#   bash benchmarks/gpu_session.sh WORK CKPT_DIR [TRAIN_MIN]
#
# CKPT_DIR: a copy of the patches32 training folder (checkpoint.pt ...); it is resumed in place.
# Environment: DEVICE (cuda), DEADLINE_S (540), SMOKE=1 (tiny sizes: checks the script on a CPU),
# PACK (a folder: after each phase WORK is tarred there in 15 MB parts results.tar.part-*).
set -uo pipefail
W=${1:?usage: gpu_session.sh WORK CKPT_DIR [TRAIN_MIN]}
CK=${2:?usage: gpu_session.sh WORK CKPT_DIR [TRAIN_MIN]}
TRAIN_MIN=${3:-2.5}
DEV=${DEVICE:-cuda}
DEADLINE_S=${DEADLINE_S:-540}
SMOKE=${SMOKE:-0}
T0=$(date +%s)
mkdir -p "$W/runs"
export PYTHONUNBUFFERED=1

say() { echo "=== [$(($(date +%s) - T0)) s] $*"; }
left() { echo $((DEADLINE_S - ($(date +%s) - T0))); }
pack() {
  [ -n "${PACK:-}" ] || return 0
  rm -f "$PACK"/results.tar.part-*
  tar cf - -C "$W" . | split -b 15m - "$PACK/results.tar.part-"
}
# phase NAME CAP_S MIN_S -- command...: run under min(CAP_S, time left - 10); skip if < MIN_S left
phase() {
  local name=$1 cap=$2 need=$3
  shift 4
  local l
  l=$(left)
  if [ "$l" -lt "$need" ]; then
    say "SKIP $name ($l s left, needs $need)"
    echo "$name skipped" >>"$W/phases.txt"
    return 0
  fi
  local lim=$((cap < l - 10 ? cap : l - 10))
  say "START $name (limit $lim s)"
  local t=$(date +%s)
  timeout "$lim" "$@" >"$W/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc seconds=$(($(date +%s) - t))" >>"$W/phases.txt"
  say "END $name rc=$rc"
  tail -n 4 "$W/$name.log"
  pack
  return 0
}

if [ "$SMOKE" = 1 ]; then
  N=4 S=2 STEPS=4 ETA11=0,1 ETA4=0,1 IB=4 TUNE="0.3,1" NP=2 NBENCH="--steps 2 --rounds 1"
else
  N=40 S=2 STEPS=250 ETA11=0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1 ETA4=0,0.4,0.8,1 IB=40
  TUNE="0.1,0.3,1,3" NP=32 NBENCH="--steps 10 --rounds 3"
fi
R="$W/runs"
COMMON=(--device "$DEV" --no-progress --steps "$STEPS" --variance beta_tilde --guidance dps
  --dps-form reference)

{
  date -u
  git rev-parse HEAD 2>/dev/null
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
  python -c "import torch, diffusers, ot, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-', 'diffusers', diffusers.__version__, 'pot', ot.__version__, 'numpy', numpy.__version__)"
  nproc
} >"$W/machine.txt" 2>&1
cat "$W/machine.txt"

# 1. tests (docs build excluded: no Sphinx on the GPU image)
if [ "$SMOKE" = 1 ]; then
  phase tests 120 30 -- python -m pytest -q -p no:cacheprovider tests/diffusion/test_train_prior.py
else
  phase tests 130 200 -- python -m pytest -n 14 -q -p no:cacheprovider --ignore=tests/test_docs.py
fi

# 2. overhead benchmark: the shipped digit network at two batch sizes, the 64 px tiny UNet
phase bench 90 150 -- bash -c "
  python benchmarks/sampler_overhead.py --device $DEV --net digits16 --batch 16 $NBENCH &&
  python benchmarks/sampler_overhead.py --device $DEV --net digits16 --batch 256 $NBENCH &&
  python benchmarks/sampler_overhead.py --device $DEV --size 64 --batch 8 --operator all $NBENCH"

# 3. patches32: resume training, then ship-ready weights and the samples figure
TRAIN_S=$(python -c "print(int(float('$TRAIN_MIN') * 60))")
phase train $((TRAIN_S + 90)) $((TRAIN_S + 150)) -- python -m diffusion.train_prior \
  --data patches32 --minutes "$TRAIN_MIN" --device "$DEV" --threads 4 --seed 0 --out "$CK" \
  --no-progress --ckpt-minutes 1
mkdir -p "$W/unet_patches32"
cp "$CK"/config.json "$CK"/diffusion_pytorch_model.safetensors "$CK"/train_config.json \
  "$CK"/train_log.csv "$W/unet_patches32/" 2>/dev/null
cp "$CK"/config.json "$CK"/diffusion_pytorch_model.safetensors "$CK"/train_config.json \
  "$CK"/train_log.csv diffusion/weights/unet_patches32/ 2>/dev/null
phase samples 60 100 -- python -m diffusion.train_prior --data patches32 --out "$CK" \
  --device "$DEV" --samples-figure "$W/unet_patches32/patches32_samples.png" \
  --sample-steps "$STEPS"
cp "$CK"/checkpoint.pt "$W/unet_patches32/" 2>/dev/null
pack

# 4. restorations
phase tune_patches32 60 90 -- python -m diffusion.restore --task deblur --prior patches32 \
  --sigma-y 0.05 "${COMMON[@]}" --eta 0,0.2,0.4,0.6,0.8,1 --split fit --n-images 4 \
  --samples-per-image 2 --image-batch 4 --tune-zeta "$TUNE" --out "$R/tune_patches32_deblur"
for s in 0.05 0.2; do
  phase "patches32_deblur_$s" 80 100 -- python -m diffusion.restore --task deblur \
    --prior patches32 --sigma-y $s "${COMMON[@]}" --zeta-table "$R/tune_patches32_deblur/zeta_table.json" \
    --eta "$ETA11" --n-images "$NP" --samples-per-image "$S" --image-batch "$NP" \
    --baselines diffpir --out "$R/dps_patches32_deblur_$s"
done
for task in sr2 sr4 inpaint; do
  phase "digits16_${task}_0.05" 70 90 -- python -m diffusion.restore --task $task \
    --prior digits16 --sigma-y 0.05 "${COMMON[@]}" --zeta ours --eta "$ETA11" --n-images "$N" \
    --samples-per-image "$S" --image-batch "$IB" --baselines diffpir \
    --out "$R/dps_digits16_${task}_0.05"
done
for t in 1 2 3; do
  phase "paper_table$t" 60 80 -- python -m diffusion.restore --task deblur --prior digits16 \
    --sigma-y 0.05 "${COMMON[@]}" --zeta "paper_table$t" --eta "$ETA11" --n-images "$N" \
    --samples-per-image "$S" --image-batch "$IB" --out "$R/paper_table${t}_digits16_deblur_0.05"
done
# the CPU table's deblur run (docs/figures/learned/run_all.sh), same arguments, on the GPU
phase deblur_cpu_args 70 80 -- python -m diffusion.restore --task deblur --prior digits16 \
  --sigma-y 0.05 "${COMMON[@]}" --zeta ours --eta "$ETA4" --n-images "$N" \
  --samples-per-image "$S" --image-batch 8 --baselines diffpir,pscgan \
  --out "$R/dps_digits16_deblur_0.05_gpu"
say "done"
cat "$W/phases.txt"
pack
