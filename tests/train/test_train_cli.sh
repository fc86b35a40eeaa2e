#!/bin/sh
# yoloc train as a process: a run killed with SIGKILL mid-run and resumed
# ends with a last.safetensors byte-identical to an uninterrupted run's; a
# full disk during the checkpoint write (a file-size limit) fails with a
# clear message and leaves no half-written last.safetensors; dry=True
# prints the plan and the schedule without training.
# Usage: test_train_cli.sh path/to/yoloc
Y=${1:?usage: test_train_cli.sh path/to/yoloc}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ARGS="model=$ROOT/tests/train/yolov8t.yaml data=synth:classes=2,images=96,val=8,imgsz=96 imgsz=96 batch=8
      epochs=4 workers=2 plots=False close_mosaic=1 optimizer=SGD lr0=0.01 project=$T/runs"

# --- dry run
"$Y" train $ARGS dry=True name=dry >"$T/dry" 2>&1 || { echo "FAIL dry run"; cat "$T/dry"; fail=1; }
grep -q "effective batch" "$T/dry" && grep -q "dry run" "$T/dry" && [ ! -d "$T/runs/dry" ] \
    && echo "ok   dry=True prints the plan and schedule, writes nothing" || { echo "FAIL dry output"; fail=1; }

# --- resume after SIGKILL
"$Y" train $ARGS name=full >"$T/full.log" 2>&1 || { echo "FAIL uninterrupted run"; tail -5 "$T/full.log"; fail=1; }
"$Y" train $ARGS name=killed >"$T/killed.log" 2>&1 &
pid=$!
i=0
while [ ! -f "$T/runs/killed/weights/last.safetensors" ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done
sleep 0.05
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
rc=$?
[ $rc -eq 137 ] && echo "ok   the run was killed mid-training (SIGKILL)" || echo "note: the run ended with $rc before the kill"
"$Y" train resume="$T/runs/killed" >"$T/resume.log" 2>&1 || { echo "FAIL resume"; tail -5 "$T/resume.log"; fail=1; }
grep -h "^resume:" "$T/resume.log"
# The tensor data of a safetensors file: everything after the 8-byte length
# and the JSON header (whose metadata names the run, so it differs).
tensor_data() {
    n=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    tail -c +$((9 + n)) "$1"
}
tensor_data "$T/runs/full/weights/last.safetensors" >"$T/a.bin"
tensor_data "$T/runs/killed/weights/last.safetensors" >"$T/b.bin"
if [ -s "$T/a.bin" ] && cmp -s "$T/a.bin" "$T/b.bin"; then
    echo "ok   resumed weights are byte-identical to the uninterrupted run's ($(wc -c <"$T/a.bin") bytes of tensors)"
else
    echo "FAIL resumed weights differ"; fail=1
fi
cmp -s "$T/runs/full/results.csv" "$T/runs/killed/results.csv" && echo "ok   results.csv identical" || {
    echo "FAIL results.csv differs"; diff "$T/runs/full/results.csv" "$T/runs/killed/results.csv" | head; fail=1; }

# --- a full disk during the first checkpoint write
( ulimit -f 300; trap '' XFSZ; exec "$Y" train $(echo $ARGS | sed 's/epochs=4/epochs=1/') name=fulldisk ) >"$T/disk.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "^error: .*last.safetensors" "$T/disk.log"; then
    echo "ok   full disk: $(grep '^error:' "$T/disk.log")"
else
    echo "FAIL full disk: exit $rc"; tail -3 "$T/disk.log"; fail=1
fi
[ ! -e "$T/runs/fulldisk/weights/last.safetensors" ] && [ ! -e "$T/runs/fulldisk/weights/last.safetensors.tmp" ] \
    && echo "ok   no half-written last.safetensors" || { echo "FAIL a partial checkpoint was left"; fail=1; }
exit $fail
