#!/usr/bin/env bash
# Every run behind docs/learned.md. python -m diffusion.report_images RUNS --learned prints its
# tables; copies of the runs' results.json are in docs/figures/learned/runs/. About 2.5 hours
# of CPU on the shared 2-core machine (two runs at a time), one torch thread per run.
# Run from the repository root: bash docs/figures/learned/run_all.sh [RUNS]   (GPU=1 adds the H200 runs)
set -euo pipefail
R=${1:-runs/learned}
mkdir -p "$R"

# zeta(eta) for DPS over the digit network, chosen on 4 VALIDATION digits at sigma_y 0.05:
# per eta the zeta of least MSE to the clean digit (no exact posterior here).
python -m diffusion.restore --task deblur --prior digits16 --sigma-y 0.05 --guidance dps \
  --dps-form reference --variance beta_tilde --eta 0,0.2,0.4,0.6,0.8,1 --split fit --n-images 4 \
  --samples-per-image 2 --image-batch 4 --steps 250 --tune-zeta 0.3,1,3 --threads 1 --no-progress \
  --out "$R/tune_digits16_deblur"

for s in 0.05 0.2; do
  # the digit network with DPS (the table above: --zeta ours), DiffPIR and PSCGAN on the same digits
  python -m diffusion.restore --task deblur --prior digits16 --sigma-y $s --guidance dps \
    --dps-form reference --zeta ours --variance beta_tilde --eta 0,0.4,0.8,1 --n-images 40 \
    --samples-per-image 2 --image-batch 8 --steps 250 --baselines diffpir,pscgan --threads 1 \
    --no-progress --out "$R/dps_digits16_deblur_$s"
  # the exact reference: the digits GMM with the exact conditional score
  python -m diffusion.restore --task deblur --prior gmm-digits16 --sigma-y $s --guidance exact \
    --variance beta_tilde --eta 0,0.5,1 --n-images 32 --samples-per-image 3 --steps 1000 \
    --baselines diffpir,pscgan --threads 1 --no-progress --out "$R/gmm_digits_deblur_$s"
done

# super-resolution x4 and box inpainting at sigma_y 0.2: zeta chosen on validation digits the same
# way (grid 0.3, 1: zeta = 1 won at every eta for both; --zeta ours), DiffPIR as the baseline
for task in sr4 inpaint; do
  python -m diffusion.restore --task $task --prior digits16 --sigma-y 0.05 --guidance dps \
    --dps-form reference --variance beta_tilde --eta 0,0.2,0.4,0.6,0.8,1 --split fit --n-images 4 \
    --samples-per-image 2 --image-batch 4 --steps 250 --tune-zeta 0.3,1 --threads 1 --no-progress \
    --out "$R/tune_digits16_$task"
  python -m diffusion.restore --task $task --prior digits16 --sigma-y 0.2 --guidance dps \
    --dps-form reference --zeta ours --variance beta_tilde --eta 0,0.4,0.8,1 --n-images 40 \
    --samples-per-image 2 --image-batch 8 --steps 250 --baselines diffpir --threads 1 \
    --no-progress --out "$R/dps_digits16_${task}_0.2"
done

# super-resolution x2 at sigma_y 0.2: zeta on validation digits over {0.3, 1}, then {0.1, 0.3}
# (zeta = 0.3 won at every eta both times; --zeta ours), DiffPIR as the baseline
python -m diffusion.restore --task sr2 --prior digits16 --sigma-y 0.05 --guidance dps \
  --dps-form reference --variance beta_tilde --eta 0,0.2,0.4,0.6,0.8,1 --split fit --n-images 4 \
  --samples-per-image 2 --image-batch 4 --steps 250 --tune-zeta 0.3,1 --threads 1 --no-progress \
  --out "$R/tune_digits16_sr2"
python -m diffusion.restore --task sr2 --prior digits16 --sigma-y 0.05 --guidance dps \
  --dps-form reference --variance beta_tilde --eta 0,0.2,0.4,0.6,0.8,1 --split fit --n-images 4 \
  --samples-per-image 2 --image-batch 4 --steps 250 --tune-zeta 0.1,0.3 --threads 1 --no-progress \
  --out "$R/tune_digits16_sr2_low"
python -m diffusion.restore --task sr2 --prior digits16 --sigma-y 0.2 --guidance dps \
  --dps-form reference --zeta ours --variance beta_tilde --eta 0,0.4,0.8,1 --n-images 40 \
  --samples-per-image 2 --image-batch 8 --steps 250 --baselines diffpir --threads 1 \
  --no-progress --out "$R/dps_digits16_sr2_0.2"

# The sections marked H200 in docs/learned.md: one NVIDIA H200, from the repository root,
#   bash benchmarks/gpu_session.sh WORK CKPT_DIR 2
# (CKPT_DIR: a copy of the patches32 training folder with its checkpoint.pt). Its restorations
# are these commands with --device cuda; the session's deadline skipped the last five
# (inpainting, the three paper tables, the CPU run's arguments), which were then run unchanged
# in a second call. The patches32 tuning wrote the zeta table that --zeta ours now holds.
# the patches32 tuning chose the edge of its grid (zeta = 3); this CPU run checks {3, 10}
python -m diffusion.restore --task deblur --prior patches32 --sigma-y 0.05 --guidance dps \
  --dps-form reference --variance beta_tilde --eta 0,0.2,0.4,0.6,0.8,1 --split fit --n-images 4 \
  --samples-per-image 2 --image-batch 4 --steps 250 --tune-zeta 3,10 --threads 1 --no-progress \
  --out "$R/tune_patches32_deblur_high"
# patches32 SR x2, SR x4 and inpainting (CPU, 8 patches): zeta at sigma_y 0.05 over {1, 3},
# then {10} (--zeta ours holds the merged choice), then the eta runs at both sigma_y
for task in sr2 sr4 inpaint; do
  python -m diffusion.restore --task $task --prior patches32 --sigma-y 0.05 --guidance dps \
    --dps-form reference --variance beta_tilde --eta 0,0.2,0.4,0.6,0.8,1 --split fit \
    --n-images 4 --samples-per-image 2 --image-batch 4 --steps 250 --tune-zeta 1,3 --threads 1 \
    --no-progress --out "$R/tune_patches32_$task"
  python -m diffusion.restore --task $task --prior patches32 --sigma-y 0.05 --guidance dps \
    --dps-form reference --variance beta_tilde --eta 0,0.2,0.4,0.6,0.8,1 --split fit \
    --n-images 4 --samples-per-image 2 --image-batch 4 --steps 250 --tune-zeta 10 --threads 1 \
    --no-progress --out "$R/tune_patches32_${task}_high"
  for s in 0.05 0.2; do
    python -m diffusion.restore --task $task --prior patches32 --sigma-y $s --guidance dps \
      --dps-form reference --variance beta_tilde --zeta ours --eta 0,0.4,0.8,1 --n-images 8 \
      --samples-per-image 2 --image-batch 8 --steps 250 --baselines diffpir --threads 1 \
      --no-progress --out "$R/dps_patches32_${task}_$s"
  done
done
if [ "${GPU:-0}" = 1 ]; then
  C="--device cuda --no-progress --steps 250 --variance beta_tilde --guidance dps --dps-form reference"
  E=0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1
  python -m diffusion.restore --task deblur --prior patches32 --sigma-y 0.05 $C \
    --eta 0,0.2,0.4,0.6,0.8,1 --split fit --n-images 4 --samples-per-image 2 --image-batch 4 \
    --tune-zeta 0.1,0.3,1,3 --out "$R/tune_patches32_deblur"
  for s in 0.05 0.2; do
    python -m diffusion.restore --task deblur --prior patches32 --sigma-y $s $C --zeta ours \
      --eta $E --n-images 32 --samples-per-image 2 --image-batch 32 --baselines diffpir \
      --out "$R/dps_patches32_deblur_$s"
  done
  for task in sr2 sr4 inpaint; do
    python -m diffusion.restore --task $task --prior digits16 --sigma-y 0.05 $C --zeta ours \
      --eta $E --n-images 40 --samples-per-image 2 --image-batch 40 --baselines diffpir \
      --out "$R/dps_digits16_${task}_0.05"
  done
  for t in 1 2 3; do
    python -m diffusion.restore --task deblur --prior digits16 --sigma-y 0.05 $C \
      --zeta paper_table$t --eta $E --n-images 40 --samples-per-image 2 --image-batch 40 \
      --out "$R/paper_table${t}_digits16_deblur_0.05"
  done
  python -m diffusion.restore --task deblur --prior digits16 --sigma-y 0.05 $C --zeta ours \
    --eta 0,0.4,0.8,1 --n-images 40 --samples-per-image 2 --image-batch 8 \
    --baselines diffpir,pscgan --out "$R/dps_digits16_deblur_0.05_gpu"
fi

python -m diffusion.report_images "$R" --learned
