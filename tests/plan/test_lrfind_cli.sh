#!/bin/sh
# yoloc lrfind as a process: a tiny range test (tiny model, synthetic data,
# 16 steps) in the default project runs/lrfind writes lrfind.csv - the LR
# sequence exactly geometric from lr_start, the smoothed column the
# bias-corrected average of the loss column, the stop where the smoothed
# loss first passed 4 x its minimum (or all steps) - and lrfind.png, runs no
# validation, prints where it diverged and a "suggested lr0" line, and
# converts the LRs of the run (B_eff 8) to lr0 at nbs 32 with the linear rule
# (x 0.25). Settings a range test cannot use are refused naming the key.
# Usage: test_lrfind_cli.sh path/to/yoloc
Y=${1:?usage: test_lrfind_cli.sh path/to/yoloc}
case "$Y" in /*) ;; *) Y="$(pwd)/$Y" ;; esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
cd "$T" || exit 1
BASE="model=$ROOT/tests/train/yolov8t.yaml data=synth:classes=2,images=32,val=8,imgsz=64 imgsz=64 batch=8 nbs=32
      accumulate=1 workers=1 threads=1"
ARGS="$BASE lr_steps=16"

"$Y" lrfind $ARGS lr_start=1e-4 lr_end=10 >"$T/log" 2>&1 || { echo "FAIL lrfind run"; tail -20 "$T/log"; exit 1; }
D="$T/runs/lrfind/exp"
CSV="$D/lrfind.csv"
n=$(sed -n 's/^LR range test: \([0-9]*\) of 16 steps.*/\1/p' "$T/log")
[ -n "$n" ] && [ "$n" -ge 1 ] && [ "$n" -le 16 ] && echo "ok   $n of 16 steps recorded" \
    || { echo "FAIL summary line"; tail -20 "$T/log"; fail=1; }
[ "$(head -1 "$CSV" 2>/dev/null)" = "step,lr,loss,smoothed_loss,grad_norm" ] && [ "$(($(wc -l <"$CSV") - 1))" = "$n" ] \
    && echo "ok   runs/lrfind/exp/lrfind.csv (the default project) has the header and $n rows" \
    || { echo "FAIL lrfind.csv missing or wrong length"; ls -R "$T/runs" | head; fail=1; }

# the LR sequence: 1e-4 * (1e5)^(k/15); the smoothing: the printed beta (16 steps: 0.8) with bias correction
beta=$(sed -n 's/.*smoothing beta \([0-9.]*\);.*/\1/p' "$T/log")
[ "$beta" = "0.8" ] && echo "ok   smoothing beta 0.8 for a 16-step sweep" || { echo "FAIL beta '$beta'"; fail=1; }
grep -q "^lrfind: cost: 16 optimizer steps x B_eff 8 = 128 images (16 forward passes of 8 per process)" "$T/log" \
    && echo "ok   the cost printed before the sweep" || { echo "FAIL cost line"; grep "^lrfind" "$T/log"; fail=1; }
awk -F, -v B="${beta:-0.8}" 'NR > 1 {
    k = $1; want = 1e-4 * exp(log(1e5) * k / 15)
    if ((($2 - want) / want) ^ 2 > 1e-14) { printf "step %d: lr %s, expected %.9g\n", k, $2, want; bad = 1 }
    if ($3 != "nan" && $3 != "-nan" && $3 != "inf") {
        avg = B * avg + (1 - B) * $3; bn = (bn ? bn : 1) * B; s = avg / (1 - bn)
        if ((($4 - s) / s) ^ 2 > 1e-12) { printf "step %d: smoothed %s, expected %.9g\n", k, $4, s; bad = 1 }
    }
} END { exit bad }' "$CSV" && echo "ok   lr grows geometrically from lr_start; smoothed_loss is the bias-corrected EMA of loss" \
    || { echo "FAIL lr or smoothing column"; fail=1; }

# where it stopped
if grep -q "^diverged: at step" "$T/log"; then
    k=$(sed -n 's/^diverged: at step \([0-9]*\),.*/\1/p' "$T/log")
    awk -F, -v k="$k" 'NR > 1 { if (min == "" || $4 < min) min = $4; last = $1; s = $4; l = $3 }
        END { exit !(last == k && (l ~ /nan|inf/ || s > 4 * min)) }' "$CSV" \
        && echo "ok   stopped at step $k, where the smoothed loss passed 4 x its minimum (or was not finite)" \
        || { echo "FAIL divergence step $k does not match the curve"; fail=1; }
else
    grep -q "^diverged: no" "$T/log" && [ "$n" = 16 ] && echo "ok   ran all 16 steps without diverging" \
        || { echo "FAIL no divergence line"; fail=1; }
fi

[ "$(head -c 8 "$D/lrfind.png" 2>/dev/null | od -An -c | tr -d ' ')" = '211PNG\r\n032\n' ] \
    && echo "ok   lrfind.png written" || { echo "FAIL lrfind.png"; fail=1; }
grep -q "^suggested lr0: " "$T/log" && echo "ok   $(grep '^suggested lr0: ' "$T/log" | cut -c1-110)" \
    || { echo "FAIL no suggestion line"; tail -8 "$T/log"; fail=1; }
if grep -q "mAP50-95)" "$T/log" || grep -q "^validating" "$T/log"; then echo "FAIL a validation ran"; fail=1; else
    echo "ok   no validation"; fi

# lr0 at nbs 32 from the LRs at B_eff 8 (linear: x 0.25)
m10=$(sed -n 's/^minimum: .*min\/10: lr \([0-9.e+-]*\)$/\1/p' "$T/log")
c10=$(sed -n 's/^candidates as lr0 at nbs 32 (lr_scale=linear: lr at B_eff 8 = lr0 x 0.25): .*min\/10 \([0-9.e+-]*\)$/\1/p' "$T/log")
awk -v a="$m10" -v b="$c10" 'BEGIN { exit !(a > 0 && b > 0 && (b / (4 * a) - 1) ^ 2 < 1e-4) }' \
    && echo "ok   min/10 lr $m10 at B_eff 8 -> lr0 $c10 at nbs 32 (x4, lr_scale=linear)" \
    || { echo "FAIL lr0 scaling: '$m10' -> '$c10'"; grep -E "^(minimum|candidates)" "$T/log"; fail=1; }

# dry=True: the plan and the sweep, nothing trained or written
"$Y" lrfind $ARGS lr_start=1e-4 lr_end=10 dry=True project="$T/dry" >"$T/dry.log" 2>&1 \
    && grep -q "^dry run: the range test replaces" "$T/dry.log" && grep -Eq "^ +15 +10$" "$T/dry.log" && [ ! -d "$T/dry" ] \
    && echo "ok   dry=True prints the sweep (step 15: lr 10) and writes nothing" \
    || { echo "FAIL dry run"; tail -5 "$T/dry.log"; fail=1; }

# the automatic sweep: the training (32 images / 8 x 100 epochs = 400 steps) -> 5% = 20 -> the minimum 40;
# optimizer=auto resolved for the training (400 iterations: AdamW lr0 0.001667 for 2 classes; at B_eff 8 of
# nbs 32 the peak is 0.00041675), the range its peak / 1000 to x 100
"$Y" lrfind $BASE optimizer=auto dry=True project="$T/dry2" >"$T/dry2.log" 2>&1 \
    && grep -q "^lrfind: cost: 40 optimizer steps x B_eff 8 = 320 images (40 forward passes of 8 per process), 10% of the 400-step training it prepares; 5% of it would be 20 steps, too few for a curve: the minimum 40" "$T/dry2.log" \
    && grep -q "the range test sweeps AdamW's LR" "$T/dry2.log" \
    && grep -q "^lrfind: lr 4.1675e-07 -> 0.041675 " "$T/dry2.log" \
    && echo "ok   automatic sweep: 40 steps (the minimum; its cost printed), AdamW from optimizer=auto, lr peak/1000 to x100" \
    || { echo "FAIL automatic sweep"; grep "^lrfind" "$T/dry2.log"; tail -3 "$T/dry2.log"; fail=1; }

# settings a range test cannot use
check_refused() { # key, then extra arguments
    key=$1; shift
    if "$Y" lrfind $ARGS "$@" project="$T/bad" >"$T/bad.log" 2>&1; then echo "FAIL $* accepted"; fail=1
    elif grep -q "$key" "$T/bad.log"; then echo "ok   $* refused: $(grep -m1 error "$T/bad.log" | cut -c1-90)"
    else echo "FAIL $*: message does not name $key"; cat "$T/bad.log"; fail=1; fi
}
check_refused_base() { # the same without lr_steps in the arguments
    key=$1; shift
    if "$Y" lrfind $BASE "$@" project="$T/bad" >"$T/bad.log" 2>&1; then echo "FAIL $* accepted"; fail=1
    elif grep -q "$key" "$T/bad.log"; then echo "ok   $* refused: $(grep -m1 error "$T/bad.log" | cut -c1-90)"
    else echo "FAIL $*: message does not name $key"; cat "$T/bad.log"; fail=1; fi
}
check_refused "lr_start" lr_start=1 lr_end=0.1
check_refused_base "lr_steps" lr_steps=3
check_refused "resume" resume=True
check_refused "sched" sched=ultralytics
[ ! -d "$T/bad" ] && echo "ok   nothing written for refused settings" || { echo "FAIL refused runs wrote files"; fail=1; }
exit $fail
