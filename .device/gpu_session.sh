#!/usr/bin/env bash
# Run ON THE DEVICE MACHINE (the device tool's `run`), after .device/prepare.sh filled the ignored folders here.
# One call, stages in the order given; every log and result lands in $OUT (8 files at most come back):
#   check        the CUDA tests: graph/fp16 fast path vs eager fp32 on vtest frames, GPU<->CPU checkpoints,
#                the predictor's CUDA paths (#2, #5)                                     -> check.log
#   bench        `detector bench` on CUDA for yolo-mnv3-small@320 and yolo-mnv3-large@416 (trained weights
#                from a train stage of this call if any, else random weights: speed only): latency with and
#                without CUDA graphs and fp16, batch 8, the file job vs its decode+encode ceiling, a
#                10,000-frame soak, and Ultralytics YOLO11n on the same frames (#5)     -> bench.log, bench.jsonl
#   bench:compile  the same, only what `--compile` (torch.compile inside the graph) buys: each model with and
#                without it, back to back, and, where prepare.sh left .device/before (BEFORE=REF), the plain
#                graph as the code was at REF (carry .device/before too) (#5)            -> bench.log, bench.jsonl
#   train:MIN    both models at once on the one GPU, each filling MIN minutes (--epochs 0 --budget-min), with
#                the README model card's recipe (#4); train:MIN:large (or :small) trains that one alone
#                -> train.log, train-NAME.tgz (best weights, history; last.pt when it fits 16 MB)
#                FROM_SHIPPED=1 starts each model from its shipped weights instead of random ones: the
#                device keeps nothing and a large last.pt does not come back, so one session's training goes on
#                in the next only through weights that were published into assets/models.
#                TRAIN_ARGS="--mixup 0.15 --zoom 0.3 1.7" adds options to every train command (a recipe to try).
# A device command may run 10 minutes and a session has 15 minutes of device time, starts included, e.g.
#   run(command="bash .device/gpu_session.sh check bench", carry=[".device/whl", ".device/shared"], timeout_s=420)
#   run(command="bash .device/gpu_session.sh train:5", carry=[".device/whl", ".device/pack"], timeout_s=600)
# Dry run on a CPU: SOAK=200 LD_DEVICE=cpu PY=.venv/bin/python SKIP_WHEELS=1 COMPARE=0 OUT=/tmp/out bash .device/gpu_session.sh check bench train:0.5
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
case "$PY" in */*) PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" ;; esac  # stages may run elsewhere
DEVICE=${LD_DEVICE:-cuda}
OUT=${OUT:?OUT must name the folder whose files come back}
COMPARE=${COMPARE:-1}
SOAK=${SOAK:-10000}
export PYTHONUNBUFFERED=1 LIVEDET_SHARED="$PWD/.device/shared" LIVEDET_CACHE_DIR=/tmp/livedet-cache
VTEST="$LIVEDET_SHARED/media/vtest.avi"
mkdir -p "$OUT"

if [ "${SKIP_WHEELS:-0}" != 1 ] && ls .device/whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .device/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv 2>/dev/null
  "$PY" -c 'import torch, sys; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())'
} | tee "$OUT/machine.txt"

stage_check() {
  "$PY" -m pytest -q -rs -p no:cacheprovider -o addopts= tests/test_fast_path.py tests/test_checkpoint.py \
    tests/test_predictor.py 2>&1 | tee "$OUT/check.log" | tail -n 15
}

random_large() {  # untrained large weights for timing only; speed does not depend on weight values
  "$PY" - "$1" <<'PY'
import sys
import torch
from detector.checkpoint import WeightsMeta, save_weights
from detector.models import build_model
from detector.models.presets import PRESETS
from detector.zoo import find_model
config, size = PRESETS["yolo-mnv3-large"]
torch.manual_seed(0)
names = find_model("yolo-mnv3-small").class_names
save_weights(sys.argv[1], build_model(config), WeightsMeta(config, names, size, {"note": "random: speed only"}))
PY
}

bench_one() {  # label, then bench arguments; keeps the summary (the last line) in bench.jsonl
  echo "== $1" | tee -a "$OUT/bench.log"
  local label=$1; shift
  "$PY" -m detector bench --device "$DEVICE" --source "$VTEST" "$@" 2>>"$OUT/bench.log" | tee -a "$OUT/bench.log" \
    | tail -n 1 | "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read() or "{}"); d["label"]=sys.argv[1]; print(json.dumps(d))' \
      "$label" >>"$OUT/bench.jsonl"
}

stage_bench() {
  local large=runs/train/yolo-mnv3-large/best.safetensors
  [ -f "$large" ] || { large=/tmp/yolo-mnv3-large-random.safetensors; random_large "$large"; }
  local extra=(); [ "$COMPARE" = 1 ] && extra=(--compare-ultralytics)
  for spec in "yolo-mnv3-small 320" "$large 416"; do
    set -- $spec
    bench_one "$(basename "$1" .safetensors)@$2 full" --model "$1" --imgsz "$2" --file-job --soak "$SOAK" "${extra[@]}"
    bench_one "$(basename "$1" .safetensors)@$2 no-graph" --model "$1" --imgsz "$2" --no-cuda-graph
    bench_one "$(basename "$1" .safetensors)@$2 no-graph-no-half" --model "$1" --imgsz "$2" --no-cuda-graph --no-half
    bench_one "$(basename "$1" .safetensors)@$2 batch8" --model "$1" --imgsz "$2" --batch 8
  done
  summarize_bench
}

summarize_bench() {
  "$PY" - "$OUT/bench.jsonl" <<'PY'
import json, sys
print(f"{'run':44} {'p50 ms':>7} {'p90 ms':>7} {'FPS':>8}  other")
for line in open(sys.argv[1]):
    d = json.loads(line)
    other = {k: d[k] for k in ("device_label", "fast_path_problems", "file_job", "ultralytics", "memory",
                               "fps_ratio_vs_ultralytics", "error") if k in d}
    print(f"{d['label']:44} {d.get('latency_ms_p50', '-'):>7} {d.get('latency_ms_p90', '-'):>7} {d.get('fps', '-'):>8}  "
          f"{json.dumps(other)[:300]}")
PY
}

stage_bench_compile() {
  local large=$PWD/runs/train/yolo-mnv3-large/best.safetensors
  [ -f "$large" ] || { large=/tmp/yolo-mnv3-large-random.safetensors; random_large "$large"; }
  local before=""
  if [ -d .device/before/detector ]; then  # the same bench from the code at REF (python -m runs the cwd's package)
    before=$(cut -d' ' -f1 .device/before/REF)
    ln -sfn "$PWD/assets" .device/before/assets
  fi
  for spec in "yolo-mnv3-small 320" "$large 416"; do
    set -- $spec
    [ -n "$before" ] && (cd .device/before && bench_one "$(basename "$1" .safetensors)@$2 graph at $before" \
                           --model "$1" --imgsz "$2")
    bench_one "$(basename "$1" .safetensors)@$2 graph" --model "$1" --imgsz "$2"
    bench_one "$(basename "$1" .safetensors)@$2 graph+compile" --model "$1" --imgsz "$2" --compile
  done
  summarize_bench
}

size_of() { case "$1" in yolo-mnv3-small) echo 320 ;; yolo-mnv3-large) echo 416 ;; esac; }

stage_train() {  # minutes, then the models (all train at once on the one GPU)
  local minutes=$1; shift
  local pids=() name init
  for name in "$@"; do
    init=(); [ "${FROM_SHIPPED:-0}" = 1 ] && [ -f "assets/models/$name.safetensors" ] && init=(--init-weights "$name")
    "$PY" -m detector train "${init[@]}" --data .device/pack/voc_train.npz --val-data .device/pack/voc_val.npz --model "$name" \
      --imgsz "$(size_of "$name")" --epochs 0 --budget-min "$minutes" --batch 64 --close-mosaic 15 \
      --eval-interval 10 --device "$DEVICE" --output "runs/train/$name" ${TRAIN_ARGS:-} >"$OUT/train-$name.log" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  for name in "$@"; do
    tail -n 3 "$OUT/train-$name.log"
    local files=(best.safetensors history.jsonl)
    [ "$(stat -c %s "runs/train/$name/last.pt" 2>/dev/null || echo 99999999)" -lt 15000000 ] && files+=(last.pt)
    (cd "runs/train/$name" 2>/dev/null && tar czf "$OUT/train-$name.tgz" "${files[@]}" 2>/dev/null)
  done
  cat "$OUT"/train-*.log >"$OUT/train.log" && rm -f "$OUT"/train-*.log
}

for stage in "$@"; do
  start=$SECONDS
  echo "### $stage"
  case "$stage" in
    check) stage_check ;;
    bench) stage_bench ;;
    bench:compile) stage_bench_compile ;;
    train:*:*) spec=${stage#train:}; IFS=, read -ra names <<<"${spec#*:}"
               stage_train "${spec%%:*}" "${names[@]/#/yolo-mnv3-}" ;;
    train:*) stage_train "${stage#train:}" yolo-mnv3-small yolo-mnv3-large ;;
    *) echo "unknown stage $stage (check, bench, bench:compile, train:MIN, train:MIN:small,large)"; exit 2 ;;
  esac
  echo "### $stage took $((SECONDS - start)) s"
done
