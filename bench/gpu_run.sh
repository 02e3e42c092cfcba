#!/usr/bin/env bash
# One GPU session (../shared/GPU.md): install the carried wheels, run the GPU checks with a time cap each, keep
# each raw log under $OUT, print every check's JSON line and the raw table. Run from the repo root:
#   bash bench/gpu_run.sh                  # issue 18: student scoring, SFT 1.5B shape, SFT 0.5B shape (~8 min)
#   ONLY=gpu_generate,gpu_evaluate bash bench/gpu_run.sh      # the older checks (issues 4, 8)
#   ONLY=sft_1p5b SFT_CONFIGS=trl_defaults,ours_fast SFT_PROFILE=2 bash bench/gpu_run.sh   (one check, profiled)
#   TINY=1 bash bench/gpu_run.sh           # the same checks at toy size on CPU (no .whl/ needed: the venv has them)
set -u
if [ -n "${TINY:-}" ]; then
  SITE=   # toy size on CPU: the project's own environment has every package; .whl/ (py3.12 wheels) is not used
elif compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "error: wheel install failed (see above); carry .whl/ as docs/performance.md (Next GPU session) says"; exit 1; }
  SITE=/tmp/site:
else
  echo "error: no .whl/*.whl here: download the wheels and carry .whl/ (docs/performance.md, Next GPU session)"; exit 1
fi
export PYTHONPATH=${SITE}$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false DED_PROGRESS=0
OUT=${OUT:-/tmp/ded-gpu-out}; mkdir -p "$OUT"
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
fi
python3 -c "import torch, transformers, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/device.txt"
T0=$SECONDS
run() {
  local name=$1 cap=$2; shift 2
  [[ ",${ONLY:-student,sft_1p5b,sft_0p5b}," != *",$name,"* ]] && return
  [ -n "${TINY:-}" ] && cap=$((cap * ${TINY_CAP_FACTOR:-4}))
  local t0=$SECONDS
  timeout "$cap" python3 "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "== $name rc=$rc $((SECONDS - t0))s (cap ${cap}s)"
  grep -v -e '^{' -e '^PARTIAL ' "$OUT/$name.log" | grep -E 'tokens/s|profile:|ms x|failed' | cut -c1-300   # the human-readable lines
  grep '^{' "$OUT/$name.log" || { grep '^PARTIAL ' "$OUT/$name.log" | tail -n 1; tail -n 5 "$OUT/$name.log" | cut -c1-400; }
}
T=${TINY:+--tiny}   # TINY=1: the same checks at toy size on CPU
SFT="--steps ${SFT_STEPS:-6} --warmup 3 --profile ${SFT_PROFILE:-0}"
run student "${STUDENT_CAP:-100}" bench/gpu_student.py $T
run sft_1p5b "${SFT15_CAP:-250}" bench/gpu_sft.py $T --shape 1.5b --configs "${SFT_CONFIGS:-trl_defaults,ours_fast,ours_fast_head}" $SFT --work /tmp/ded-bench-sft15
run sft_0p5b "${SFT05_CAP:-140}" bench/gpu_sft.py $T --shape 0.5b --configs "${SFT_CONFIGS:-trl_defaults,ours_fast}" $SFT --work /tmp/ded-bench-sft05
run gpu_generate "${GEN_CAP:-150}" bench/gpu_generate.py $T --out "$OUT" --budget-s 110
run gpu_evaluate "${EVAL_CAP:-120}" bench/gpu_evaluate.py $T
echo "== raw table ($((SECONDS - T0))s in all)"
python3 bench/gpu_table.py "$OUT"
