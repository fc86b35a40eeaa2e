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
# wait for the first checkpoint or the run's end (events, not a deadline)
while [ ! -f "$T/runs/killed/weights/last.safetensors" ] && kill -0 $pid 2>/dev/null; do sleep 0.01; done
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
cut -d, -f1,3- "$T/runs/full/results.csv" >"$T/full.csv"; cut -d, -f1,3- "$T/runs/killed/results.csv" >"$T/killed.csv"
cmp -s "$T/full.csv" "$T/killed.csv" && echo "ok   results.csv identical (but its time column)" || {
    echo "FAIL results.csv differs"; diff "$T/full.csv" "$T/killed.csv" | head; fail=1; }

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
# --- non-finite gradients: one skipped, then three in a row -> rollback
YOLOC_FAULT_NONFINITE=1,3,4,5 "$Y" train $(echo $ARGS | sed 's/epochs=4/epochs=2 nbs=8/') name=nonfinite >"$T/nf.log" 2>&1 \
    || { echo "FAIL non-finite run"; tail -3 "$T/nf.log"; fail=1; }
n=$(grep -c "non-finite gradient, step skipped" "$T/nf.log")
[ "$n" -eq 4 ] && echo "ok   4 injected non-finite steps were skipped" || { echo "FAIL $n skips logged"; fail=1; }
grep -q "3 non-finite steps in a row: rolled back .* x0.5" "$T/nf.log" && echo "ok   3 in a row: rolled back, lr x0.5" \
    || { echo "FAIL no rollback line"; fail=1; }
grep -q "4 skipped as non-finite" "$T/nf.log" && echo "ok   the summary counts them" || { echo "FAIL summary"; fail=1; }
# lr after the rollback is half the schedule's: compare step 6 with the clean run's step 6
lr_nf=$(awk -F, '$1 == 6 {print $4}' "$T/runs/nonfinite/steps.csv")
"$Y" train $(echo $ARGS | sed 's/epochs=4/epochs=2 nbs=8/') name=clean >/dev/null 2>&1
lr_ok=$(awk -F, '$1 == 6 {print $4}' "$T/runs/clean/steps.csv")
awk -v a="$lr_nf" -v b="$lr_ok" 'BEGIN { exit !(a > 0 && (a / b - 0.5) < 1e-9 && (a / b - 0.5) > -1e-9) }' \
    && echo "ok   lr at step 6: $lr_nf = 0.5 x $lr_ok" || { echo "FAIL lr after rollback $lr_nf vs $lr_ok"; fail=1; }

# --- time= (hours): the run is sized to the budget after each epoch and the recipe re-resolved, so the
# epochs shrink from 100, args.yaml's recipe follows, and the last epoch ends at the final LR (peak x lrf).
# 18 s: the first epoch (the first estimate) must take less than half of it, even on a busy machine
"$Y" train $(echo $ARGS | sed 's/epochs=4/epochs=100/') name=timed time=0.005 val=False tensorboard=False >"$T/time.log" 2>&1 \
    || { echo "FAIL time= run"; tail -5 "$T/time.log"; fail=1; }
TE=$(sed -n '/^derived:/,$ s/^  epochs: \([0-9]*\)$/\1/p' "$T/runs/timed/args.yaml")
TF=$(sed -n '/^derived:/,$ s/^  lr_final: \(.*\)$/\1/p' "$T/runs/timed/args.yaml")
TN=$(($(wc -l <"$T/runs/timed/results.csv") - 1))
TL=$(tail -1 "$T/runs/timed/results.csv" | cut -d, -f14)
grep -q "^time=0.005: .* s per epoch -> [0-9]* epochs in all (was 100)" "$T/time.log" && [ -n "$TE" ] \
    && [ "$TE" -lt 100 ] && [ "$TN" = "$TE" ] \
    && awk -v a="$TL" -v b="$TF" 'BEGIN { exit !(b > 0 && ((a - b) / b) ^ 2 < 1e-10) }' \
    && echo "ok   time=0.005: $TE epochs (was 100), the last at the final lr $TL" \
    || { echo "FAIL time=: epochs '$TE', rows $TN, last lr '$TL' vs final '$TF'"; grep "^time=" "$T/time.log"; fail=1; }

# --- TensorBoard: an event file per run (the framing and the events are checked in tests/io/test_tfevents;
# tools/check_tensorboard.py reads it with TensorBoard when that is installed); none with tensorboard=False
EV=$(ls "$T/runs/full"/events.out.tfevents.* 2>/dev/null | head -1)
[ -n "$EV" ] && [ "$(wc -c <"$EV")" -gt 1000 ] && ! ls "$T/runs/timed"/events.out.tfevents.* >/dev/null 2>&1 \
    && echo "ok   events.out.tfevents.* written ($(wc -c <"$EV") bytes); none with tensorboard=False" \
    || { echo "FAIL tensorboard event file"; ls "$T/runs/full" "$T/runs/timed"; fail=1; }
if [ -n "$EV" ] && python3 -c "import tensorboard" 2>/dev/null; then
    python3 "$ROOT/tools/check_tensorboard.py" "$T/runs/full" >"$T/tb.log" 2>&1 \
        && echo "ok   $(tail -1 "$T/tb.log")" || { echo "FAIL $(tail -3 "$T/tb.log")"; fail=1; }
else
    echo "skip reading it with TensorBoard: the tensorboard Python package is not installed (optional)"
fi

# --- val and predict with the trained weights
W="$T/runs/full/weights/best.safetensors"
"$Y" val model="$W" data=synth:classes=2,images=96,val=8,imgsz=96 imgsz=96 out="$T/m.json" >"$T/val.log" 2>&1 \
    && grep -q "mAP50-95" "$T/val.log" && grep -q '"mAP50-95"' "$T/m.json" \
    && echo "ok   yoloc val prints the table and writes metrics.json" || { echo "FAIL val"; tail -3 "$T/val.log"; fail=1; }
"$Y" data export data=synth:classes=2,images=8,val=2,imgsz=96,seed=5 dir="$T/imgs" >/dev/null 2>&1
"$Y" predict model="$W" source="$T/imgs/images/val" imgsz=96 conf=0.01 save_txt=True project="$T/pred" name=p \
    >"$T/pred.log" 2>&1 || { echo "FAIL predict"; tail -3 "$T/pred.log"; fail=1; }
np=$(ls "$T/pred/p"/*.jpg 2>/dev/null | wc -l); nt=$(ls "$T/pred/p/labels"/*.txt 2>/dev/null | wc -l)
[ "$np" -eq 2 ] && [ "$nt" -eq 2 ] && echo "ok   yoloc predict wrote 2 drawn images and 2 label files" \
    || { echo "FAIL predict outputs: $np images, $nt txt"; fail=1; }
# save_txt lines: 5 columns; save_conf=True appends the confidence
n5=$(cat "$T/pred/p/labels"/*.txt 2>/dev/null | awk 'NF == 5' | wc -l)
nl=$(cat "$T/pred/p/labels"/*.txt 2>/dev/null | wc -l)
[ "$nl" -gt 0 ] && [ "$n5" -eq "$nl" ] && echo "ok   predict save_txt=True: $nl lines of 5 columns (class cx cy w h)" \
    || { echo "FAIL save_txt: $n5 of $nl lines with 5 columns"; fail=1; }
"$Y" predict model="$W" source="$T/imgs/images/val" imgsz=96 conf=0.01 save_txt=True save_conf=True \
    project="$T/pred" name=pc >/dev/null 2>&1
n6=$(cat "$T/pred/pc/labels"/*.txt 2>/dev/null | awk 'NF == 6 && $6 > 0 && $6 <= 1' | wc -l)
na=$(cat "$T/pred/pc/labels"/*.txt 2>/dev/null | wc -l)
[ "$n6" -gt 0 ] && [ "$n6" -eq "$na" ] && echo "ok   save_conf=True appends the confidence ($n6 lines of 6 columns)" \
    || { echo "FAIL save_conf: $n6 of $na lines with a confidence"; fail=1; }
"$Y" val model="$W" data=/no/such.yaml >"$T/bad.log" 2>&1 && { echo "FAIL val accepted a missing data.yaml"; fail=1; }
grep -q "^error: .*no/such.yaml" "$T/bad.log" && echo "ok   val: missing data.yaml is a clear error" || { echo "FAIL val error"; fail=1; }
# frozen BatchNorm statistics (the noise probe) on the reference backend, which runs BN and SiLU unfused
"$Y" train $ARGS name=bnref bn_freeze=2 backend=ref >"$T/bnref.log" 2>&1 && [ -f "$T/runs/bnref/weights/last.safetensors" ] \
    && echo "ok   bn_freeze with backend=ref trains" || { echo "FAIL bn_freeze with backend=ref"; cat "$T/bnref.log"; fail=1; }

exit $fail
