#!/usr/bin/env bash
# Every run behind the tables of docs/images.md (python -m diffusion.report_images reads their
# results.json; copies are in docs/figures/images/runs/). About 2.5 hours on 2 CPU cores,
# one thread per run. Run from the repository root: bash docs/figures/images/run_all.sh [RUNS]
set -euo pipefail
R=${1:-runs/images}
mkdir -p "$R"
run() { python -m diffusion.restore "$@" --threads 1 --no-progress || [ $? -eq 3 ]; }  # 3 = diverged, recorded

# zeta(eta) chosen on 2 FIT-split patches at sigma_y 0.05 (least mean excess over D(P); diverging zeta excluded)
for task in deblur sr2 sr4 inpaint; do
  run --task $task --prior gmm --sigma-y 0.05 --guidance dps --dps-form reference --variance beta_tilde \
    --eta 0,0.2,0.4,0.6,0.8,1 --split fit --n-images 2 --samples-per-image 4 --image-batch 2 \
    --tune-zeta 0.1,0.3,1,3,10 --out $R/tune_${task}_0.05
done

run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,1 --guidance exact --variance beta --n-images 4 --samples-per-image 8 --steps 1000 --schedule fixed-horizon --out $R/conv_fh_beta_1000
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,1 --guidance exact --variance beta --n-images 4 --samples-per-image 8 --steps 250 --schedule fixed-horizon --out $R/conv_fh_beta_250
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,1 --guidance exact --variance beta --n-images 4 --samples-per-image 8 --steps 4000 --schedule fixed-horizon --out $R/conv_fh_beta_4000
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,1 --guidance exact --variance beta_tilde --n-images 4 --samples-per-image 8 --steps 1000 --schedule fixed-horizon --out $R/conv_fh_beta_tilde_1000
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,1 --guidance exact --variance beta_tilde --n-images 4 --samples-per-image 8 --steps 250 --schedule fixed-horizon --out $R/conv_fh_beta_tilde_250
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,1 --guidance exact --variance beta_tilde --n-images 4 --samples-per-image 8 --steps 4000 --schedule fixed-horizon --out $R/conv_fh_beta_tilde_4000
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,1 --guidance exact --variance beta_tilde --n-images 4 --samples-per-image 8 --steps 100 --out $R/conv_lin_beta_tilde_100
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,1 --guidance exact --variance beta_tilde --n-images 4 --samples-per-image 8 --out $R/conv_lin_beta_tilde_1000
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,1 --guidance exact --variance beta_tilde --n-images 4 --samples-per-image 8 --steps 250 --out $R/conv_lin_beta_tilde_250
run --task deblur --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form likelihood --zeta 1 --image-batch 4 --no-exact-reference --out $R/dps_lik_deblur_0.05
run --task deblur --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form likelihood --zeta 1 --image-batch 4 --no-exact-reference --out $R/dps_lik_deblur_0.2
run --task inpaint --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form likelihood --zeta 1 --image-batch 4 --no-exact-reference --out $R/dps_lik_inpaint_0.05
run --task inpaint --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form likelihood --zeta 1 --image-batch 4 --no-exact-reference --out $R/dps_lik_inpaint_0.2
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form likelihood --zeta 1 --image-batch 4 --no-exact-reference --out $R/dps_lik_sr2_0.05
run --task sr2 --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form likelihood --zeta 1 --image-batch 4 --no-exact-reference --out $R/dps_lik_sr2_0.2
run --task sr4 --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form likelihood --zeta 1 --image-batch 4 --no-exact-reference --out $R/dps_lik_sr4_0.05
run --task sr4 --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form likelihood --zeta 1 --image-batch 4 --no-exact-reference --out $R/dps_lik_sr4_0.2
run --task deblur --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta ours --image-batch 4 --out $R/dps_ours_deblur_0.05
run --task deblur --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta ours --image-batch 4 --out $R/dps_ours_deblur_0.2
run --task inpaint --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta ours --image-batch 4 --out $R/dps_ours_inpaint_0.05
run --task inpaint --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta ours --image-batch 4 --out $R/dps_ours_inpaint_0.2
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta ours --image-batch 4 --out $R/dps_ours_sr2_0.05
run --task sr2 --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta ours --image-batch 4 --out $R/dps_ours_sr2_0.2
run --task sr4 --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta ours --image-batch 4 --out $R/dps_ours_sr4_0.05
run --task sr4 --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta ours --image-batch 4 --out $R/dps_ours_sr4_0.2
run --task deblur --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta paper_table1 --image-batch 4 --no-exact-reference --out $R/dps_paper1_deblur_0.05
run --task deblur --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta paper_table1 --image-batch 4 --no-exact-reference --out $R/dps_paper1_deblur_0.2
run --task inpaint --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta paper_table1 --image-batch 4 --no-exact-reference --out $R/dps_paper1_inpaint_0.05
run --task inpaint --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta paper_table1 --image-batch 4 --no-exact-reference --out $R/dps_paper1_inpaint_0.2
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta paper_table1 --image-batch 4 --no-exact-reference --out $R/dps_paper1_sr2_0.05
run --task sr2 --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta paper_table1 --image-batch 4 --no-exact-reference --out $R/dps_paper1_sr2_0.2
run --task sr4 --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta paper_table1 --image-batch 4 --no-exact-reference --out $R/dps_paper1_sr4_0.05
run --task sr4 --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance dps --variance beta_tilde --n-images 4 --samples-per-image 4 --dps-form reference --zeta paper_table1 --image-batch 4 --no-exact-reference --out $R/dps_paper1_sr4_0.2
run --task deblur --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta --n-images 6 --samples-per-image 8 --out $R/exact_beta_deblur_0.05
run --task deblur --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta --n-images 6 --samples-per-image 8 --out $R/exact_beta_deblur_0.2
run --task inpaint --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta --n-images 6 --samples-per-image 8 --out $R/exact_beta_inpaint_0.05
run --task inpaint --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta --n-images 6 --samples-per-image 8 --out $R/exact_beta_inpaint_0.2
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta --n-images 6 --samples-per-image 8 --out $R/exact_beta_sr2_0.05
run --task sr2 --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta --n-images 6 --samples-per-image 8 --out $R/exact_beta_sr2_0.2
run --task sr4 --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta --n-images 6 --samples-per-image 8 --out $R/exact_beta_sr4_0.05
run --task sr4 --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta --n-images 6 --samples-per-image 8 --out $R/exact_beta_sr4_0.2
run --task deblur --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta_tilde --n-images 6 --samples-per-image 8 --out $R/exact_beta_tilde_deblur_0.05
run --task deblur --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta_tilde --n-images 6 --samples-per-image 8 --out $R/exact_beta_tilde_deblur_0.2
run --task inpaint --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta_tilde --n-images 6 --samples-per-image 8 --out $R/exact_beta_tilde_inpaint_0.05
run --task inpaint --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta_tilde --n-images 6 --samples-per-image 8 --out $R/exact_beta_tilde_inpaint_0.2
run --task sr2 --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta_tilde --n-images 6 --samples-per-image 8 --out $R/exact_beta_tilde_sr2_0.05
run --task sr2 --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta_tilde --n-images 6 --samples-per-image 8 --out $R/exact_beta_tilde_sr2_0.2
run --task sr4 --prior gmm --sigma-y 0.05 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta_tilde --n-images 6 --samples-per-image 8 --out $R/exact_beta_tilde_sr4_0.05
run --task sr4 --prior gmm --sigma-y 0.2 --eta 0,0.2,0.4,0.6,0.8,1 --guidance exact --variance beta_tilde --n-images 6 --samples-per-image 8 --out $R/exact_beta_tilde_sr4_0.2
run --task deblur --prior gmm --sigma-y 0.05 --eta 1 --guidance exact --variance exact --n-images 2 --samples-per-image 16 --out $R/exactvar_deblur_0.05
run --task deblur --prior gmm --sigma-y 0.2 --eta 1 --guidance exact --variance exact --n-images 2 --samples-per-image 16 --out $R/exactvar_deblur_0.2
run --task inpaint --prior gmm --sigma-y 0.05 --eta 1 --guidance exact --variance exact --n-images 2 --samples-per-image 16 --out $R/exactvar_inpaint_0.05
run --task inpaint --prior gmm --sigma-y 0.2 --eta 1 --guidance exact --variance exact --n-images 2 --samples-per-image 16 --out $R/exactvar_inpaint_0.2
run --task sr2 --prior gmm --sigma-y 0.05 --eta 1 --guidance exact --variance exact --n-images 2 --samples-per-image 16 --out $R/exactvar_sr2_0.05
run --task sr2 --prior gmm --sigma-y 0.2 --eta 1 --guidance exact --variance exact --n-images 2 --samples-per-image 16 --out $R/exactvar_sr2_0.2
run --task sr4 --prior gmm --sigma-y 0.05 --eta 1 --guidance exact --variance exact --n-images 2 --samples-per-image 16 --out $R/exactvar_sr4_0.05
run --task sr4 --prior gmm --sigma-y 0.2 --eta 1 --guidance exact --variance exact --n-images 2 --samples-per-image 16 --out $R/exactvar_sr4_0.2

# Convergence with 128 samples per patch (resolves the schedule effect; see the page)
for v in beta_tilde beta; do for T in 250 1000 4000; do
  run --task sr2 --prior gmm --sigma-y 0.05 --guidance exact --variance $v --eta 1 --n-images 2 \
    --samples-per-image 128 --schedule fixed-horizon --steps $T --out $R/conv128_fh_${v}_$T
done; done

python -m diffusion.report_images "$R" --figure docs/figures/images/convergence.png
