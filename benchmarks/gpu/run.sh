#!/usr/bin/env bash
# One call on a lent GPU: the CUDA tests, the engine against a bare loop, the data pipeline's
# rate with 0-14 workers, and mixed / TUR / Art for the minutes left. Everything it writes
# lands in $OUT (default ./gpu-out): at most 8 files, no folders (the device tool brings back 8).
#
#   bash benchmarks/gpu/run.sh                       # on the GPU machine (<= 8 min by default)
#   bash benchmarks/gpu/run.sh --device cpu --tiny   # dry run on any CPU (CI: about a minute)
#
# Options: --device cuda|cpu (default cuda), --tiny (tiny models, few steps), --budget SECONDS
# (whole-run deadline, default 470), --out DIR (default $OUT, else ./gpu-out).
# It installs nothing (the GPU machine has no network): torch must be there; aioir runs from
# this checkout's src/ through PYTHONPATH.
set -u
cd "$(dirname "$0")/../.."
DEVICE=cuda TINY=0 BUDGET=470 OUTDIR="${OUT:-./gpu-out}"
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --tiny) TINY=1; shift ;;
    --budget) BUDGET="$2"; shift 2 ;;
    --out) OUTDIR="$2"; shift 2 ;;
    *) echo "run.sh: unknown option $1 (see the header of benchmarks/gpu/run.sh)" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUTDIR" || exit 2
OUTDIR="$(cd "$OUTDIR" && pwd)"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export MPLBACKEND=Agg
PY="${PYTHON:-python3}"
START=$(date +%s)
CORES=$("$PY" -c "import os; print(len(os.sched_getaffinity(0)))")
LOG="$OUTDIR/run.log"
: >"$LOG"
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
say() { echo "[run.sh +$(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }
# step NAME TIMEOUT CMD...: run with a time limit, output to the log, never abort the script
step() {
  local name="$1" limit="$2"; shift 2
  if [ "$limit" -lt 5 ]; then say "$name: skipped, no time left"; echo "$name: skipped (no time left)" >>"$OUTDIR/summary.md"; return; fi
  say "$name (limit ${limit}s): $*"
  timeout -k 10 "$limit" "$@" >>"$LOG" 2>&1
  local rc=$?
  say "$name: exit $rc"
  echo "$name: exit $rc" >>"$OUTDIR/status.txt"
}
: >"$OUTDIR/status.txt"
{
  echo "# benchmarks/gpu/run.sh on $DEVICE$( [ $TINY = 1 ] && echo ' (tiny dry run)')"
  echo; date -u
  "$PY" - <<'PYEOF'
import platform, torch
import os
print(f"CPU cores: {len(os.sched_getaffinity(0))}")
print(f"python {platform.python_version()}, torch {torch.__version__}, cuda {torch.version.cuda}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"GPU: {p.name}, {p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs")
else:
    print("no CUDA GPU visible")
PYEOF
} >"$OUTDIR/summary.md" 2>&1
if [ "$TINY" = 1 ]; then
  # CI machines may be loaded: the dry run's steps are bounded by the budget alone
  T_TESTS=$BUDGET E_CAP=$BUDGET D_CAP=$BUDGET
  E_ARGS="--tiny --precision fp32" D_ARGS="--tiny" S_ARGS="--tiny --precision fp32"
else
  T_TESTS=170 E_CAP=150 D_CAP=120 E_ARGS="" D_ARGS="--seconds 8" S_ARGS=""
fi

# 1. the CUDA tests (on a CPU they are collected and skipped: the dry run checks the marker)
step cuda-tests "$T_TESTS" "$PY" -m pytest -m cuda tests/cuda -q -rs -p no:cacheprovider \
  -o addopts="--import-mode=importlib" --junitxml="$OUTDIR/cuda-tests.xml"

# 2. engine vs bare loop, PromptIR and NAFNet (published sizes, batch 8 x 128 px, bf16)
step engine-vs-bare $(( $(left) < E_CAP ? $(left) : E_CAP )) "$PY" benchmarks/gpu/engine_vs_bare.py \
  --device "$DEVICE" $E_ARGS --json "$OUTDIR/engine_vs_bare.json"
RATE=$("$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print(max(x['engine_steps_per_s'] for x in r))" "$OUTDIR/engine_vs_bare.json" 2>/dev/null || echo "")

# 3. the data pipeline with 0, 2, 4, 8, 14 workers against the fastest engine step rate above
step data-workers $(( $(left) < D_CAP ? $(left) : D_CAP )) "$PY" benchmarks/gpu/data_workers.py \
  $D_ARGS ${RATE:+--steps-per-s $RATE} --json "$OUTDIR/data_workers.json"

# 4. mixed / TUR / Art for what is left: 3 runs, each with ~25 s of start-up and validation
PER=$(( ($(left) - 30) / 3 - 25 ))
if [ "$TINY" = 1 ] || [ "$PER" -ge 10 ]; then
  step strategies $(( $(left) - 10 )) "$PY" benchmarks/gpu/strategies_budget.py --device "$DEVICE" \
    $S_ARGS --seconds "$PER" --workers $(( CORES > 15 ? 14 : CORES - 1 )) \
    --json "$OUTDIR/strategies.json"
else
  say "strategies: skipped, ${PER}s per strategy left"
fi

# the tables each script printed last, gathered
{
  echo; echo "## status"; cat "$OUTDIR/status.txt"
  echo; echo "## tables"; grep -E '^\||^fewest|^[0-9]+ (passed|failed|skipped|deselected).* in [0-9.]+s' "$LOG"
  echo; echo "total: $(( $(date +%s) - START )) s"
} >>"$OUTDIR/summary.md"
cat "$OUTDIR/summary.md"
! grep -qv ': exit 0$' "$OUTDIR/status.txt"
