#!/usr/bin/env bash
# The checks that need a GPU, in one short run on a machine the `device` tool lends
# (the GPU code has otherwise met only faked NVML).  Prepare here first:
#
#   bash benchmarks/device_wheels.sh        # .whl/: the wheels that machine lacks
#
# then, with the device tool: run(command="bash benchmarks/device_checks.sh",
# carry=[".whl"], timeout_s=540).  What each step printed lands in $OUT (at most 8 files
# come back): nvidia-smi.txt, check-gpu.json (`check --only gpu -v --json`),
# check-gpu.txt (the same, as a person reads it), watch.json (`watch --seconds 5`),
# watch-job.txt and watch-job.json (`watch` around a 10 s matrix-multiply job on the
# GPU, which should be named GPU-bound: its report, its JSON), mirrors-scale.txt (benchmarks/mirrors_scale.py, whose N = 50 and
# 100 targets need more cores than the dev VM has) and log.txt (every step's command,
# exit code and stderr).  Each step has its own time limit; one that fails does not
# stop the others.  ENVDOCTOR_SCALE_ARGS adds arguments to the benchmark's (for a
# trial run here: ENVDOCTOR_SCALE_ARGS="--counts 10 --runs 1").
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:?OUT must name the folder whose files come back}"
log="$out/log.txt"
site="${TMPDIR:-/tmp}/envdoctor-device-site"

{ date -u; uname -a; python3 -V; } >"$log" 2>&1
if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "no wheels in .whl/: run benchmarks/device_wheels.sh here and carry .whl" | tee -a "$log"
    exit 2
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" .whl/*.whl >>"$log" 2>&1 || { echo "installing .whl/ failed" >>"$log"; exit 2; }
export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1

step() {  # step SECONDS FILE COMMAND...: into $out/FILE, the stdout of COMMAND (a .json
    local limit=$1 file=$2 rc  # FILE; its stderr goes to the log) or all it says (.txt)
    shift 2
    echo "== $* > $file" >>"$log"
    if [[ $file == *.json ]]; then
        timeout "$limit" "$@" >"$out/$file" 2>>"$log"
    else
        timeout "$limit" "$@" >"$out/$file" 2>&1
    fi
    rc=$?
    echo "== exit $rc" >>"$log"
    echo "$file: exit $rc"
}

job='import time, torch
a = torch.randn(8192, 8192, device="cuda")
end = time.time() + 10
while time.time() < end:
    a = (a @ a).clamp_(-1, 1)
torch.cuda.synchronize()'

step 30 nvidia-smi.txt nvidia-smi
step 90 check-gpu.json python3 -m envdoctor check --only gpu -v --json
step 90 check-gpu.txt python3 -m envdoctor check --only gpu -v
step 30 watch.json python3 -m envdoctor watch --seconds 5 --interval 0.5 --json
step 60 watch-job.txt python3 -m envdoctor watch --interval 0.5 --json-file "$out/watch-job.json" \
    -- python3 -c "$job"
step 330 mirrors-scale.txt python3 benchmarks/mirrors_scale.py --runs 2 ${ENVDOCTOR_SCALE_ARGS:-}
exit 0
