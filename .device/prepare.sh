#!/usr/bin/env bash
# Run HERE (no GPU needed), once per machine, before a GPU session: fills the ignored folders that
# .device/gpu_session.sh reads on the device machine, which starts bare and reaches no registry.
#   .device/whl/     wheels the device image lacks: faster-coco-eval (training's val mAP), and
#                    ultralytics + ultralytics-thop (bench --compare-ultralytics; never a project dependency)
#   .device/pack/    VOC2007 train (384 px) and val (320 px) packed as WebP .npz (the README's model-card commands)
#   .device/shared/  media/vtest.avi, for the CUDA parity tests and the benches (LIVEDET_SHARED points here)
#   .device/before/  with BEFORE=REF: detector/ as it was at commit REF, so that bench:compile times the code
#                    before a change beside the code after it, on the same GPU in the same call
# Everything carried must stay under the device tool's 64 MiB per call, the repository included:
# the script prints the total. About 4 minutes on 2 cores, most of it packing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SHARED=${SHARED:-../shared}
mkdir -p .device/whl .device/pack .device/shared/media

# The device's python3 is CPython 3.12 on x86-64 (device README, KINDS.md).
if [ -z "$(ls .device/whl/*.whl 2>/dev/null)" ]; then
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .device/whl faster-coco-eval ultralytics ultralytics-thop
fi

cp -f "$SHARED/media/vtest.avi" .device/shared/media/vtest.avi

if [ -n "${BEFORE:-}" ]; then
  rm -rf .device/before && mkdir -p .device/before
  git archive "$BEFORE" detector | tar -x -C .device/before
  echo "$BEFORE $(git log -1 --format=%s "$BEFORE" | cut -c1-60)" > .device/before/REF
fi

pack() {  # split, long side
  local out=".device/pack/voc_$1.npz"
  [ -f "$out" ] && return 0
  "$PY" -m detector.training.pack --data "$SHARED/data/voc2007/annotations/instances_$1.json" \
    --images "$SHARED/data/voc2007/images/$1" --output "$out" --max-side "$2" --quality 60 | tail -n 1
}
pack train 384
pack val 320

mib() { echo $(( ($(du -cb "$@" | tail -n 1 | cut -f1) + 1048575) / 1048576 )); }
tracked=$(git ls-files -z | xargs -0 du -cb | tail -n 1 | cut -f1)
repo=$(( (tracked + 1048575) / 1048576 ))
bench_carry=(.device/whl .device/shared); [ -d .device/before ] && bench_carry+=(.device/before)
echo "to carry: repository ${repo} MiB; check+bench call $(( repo + $(mib "${bench_carry[@]}") )) MiB;" \
     "train call $(( repo + $(mib .device/whl .device/pack) )) MiB (the limit is 64 MiB a call)"
