#!/usr/bin/env bash
# One GPU session (../shared/GPU.md): install the carried wheels, run every GPU check with a time cap,
# keep each raw log under $OUT, print a short table. Run from the repo root with .whl/ carried:
#   bash bench/gpu_run.sh            (each check's last line is its JSON result)
#   ONLY=gpu_sft SFT_CONFIGS=trl_defaults,ours_fast SFT_PROFILE=2 bash bench/gpu_run.sh   (one check, profiled)
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
OUT=${OUT:-/tmp/ded-gpu-out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import torch, transformers, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/device.txt"
run() {
  local name=$1 cap=$2; shift 2
  [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",$name,"* ]] && return
  local t0=$SECONDS
  timeout "$cap" python3 "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  printf '%-14s rc=%-3s %4ss  %s\n' "$name" "$rc" "$((SECONDS - t0))" "$(tail -n 1 "$OUT/$name.log" | cut -c1-400)"
}
T=${TINY:+--tiny}   # TINY=1 bash bench/gpu_run.sh: the same checks at toy size on CPU
run gpu_generate "${GEN_CAP:-150}" bench/gpu_generate.py $T --out "$OUT" --budget-s 110
run gpu_sft "${SFT_CAP:-240}" bench/gpu_sft.py $T --configs "${SFT_CONFIGS:-trl_defaults,ours,ours_nopack}" --steps 10 --warmup 3 --profile "${SFT_PROFILE:-0}"
run gpu_evaluate "${EVAL_CAP:-120}" bench/gpu_evaluate.py $T
run gpu_student "${STUDENT_CAP:-40}" bench/gpu_student.py $T
