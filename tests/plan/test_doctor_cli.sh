#!/bin/sh
# yoloc doctor on real tiny trainings (tests/train/yolov8t.yaml, synthetic
# data, a few seconds each, one compute thread):
#  - a run deliberately trained with SGD lr0=0.2 and no warmup (force=True,
#    nbs=8 so that every batch of 8 is an optimizer step: 32 steps): the live
#    trainer prints "doctor: ..." lines while it trains (lr_high and
#    no_warmup at step 0, then what the run shows: its EMA / validation
#    model blows up or collapses with its running BatchNorm statistics
#    (bn_stats=0), gradient-norm spikes); `yoloc doctor` on
#    the run directory reports them with steps and values, a next setting
#    for each, "next run: lr0=0.01 warmup_epochs=3", exit 3, and out=JSON
#  - the same model and data with SGD lr0=0.01 and the default 3-epoch
#    warmup: no live finding, "no LR/batch problems found", exit 0
#  - non-finite gradients injected at steps 5 and 6 of a healthy run: the
#    live and offline doctor name the skipped steps
#  - doctor=False: no live lines; usage errors exit 1 with a message
# Usage: test_doctor_cli.sh path/to/yoloc (run from the source tree).
set -u
Y=${1:?usage: test_doctor_cli.sh path/to/yoloc}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if ! "$Y" --help 2>/dev/null | grep -q '^  doctor '; then
    echo "SKIPPED: 'yoloc doctor' is not registered in this build"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}
ok() { echo "ok   $*"; }
ARGS="model=$ROOT/tests/train/yolov8t.yaml data=synth:classes=2,images=64,val=16,imgsz=96 imgsz=96 batch=8 nbs=8
      epochs=4 workers=2 threads=1 plots=False optimizer=SGD project=$T/runs"

# --- the bad run: lr0=0.2, no warmup
t0=$(date +%s)
# bn_stats=0: validation uses the running BatchNorm statistics, which blow up
# at this LR (recomputed statistics would keep the validation model sane and
# leave nothing to detect in 4 epochs)
"$Y" train $ARGS lr0=0.2 warmup_epochs=0 force=True bn_stats=0 name=bad >"$T/bad.log" 2>&1 || {
    fail "bad run failed"
    tail -5 "$T/bad.log"
}
echo "bad run: $(($(date +%s) - t0)) s"
grep '^doctor:' "$T/bad.log"
# live: the findings appear during training (before the summary line), once each
live_end=$(grep -n 'epochs completed' "$T/bad.log" | cut -d: -f1)
first=$(grep -n '^doctor: error lr_high: step 0: ' "$T/bad.log" | head -1 | cut -d: -f1)
if [ -n "$first" ] && [ -n "$live_end" ] && [ "$first" -lt "$live_end" ]; then
    ok "live: lr_high printed at step 0, during training"
else
    fail "live: no 'doctor: error lr_high: step 0' line before the end of training"
fi
grep -q '^doctor: warning no_warmup: warmup_epochs=0' "$T/bad.log" && ok "live: no_warmup" || fail "live: no_warmup missing"
dyn=$(grep -E '^doctor: [a-z]+ (divergence|loss_spikes): ' "$T/bad.log" | head -1)
if [ -n "$dyn" ]; then ok "live: what the run showed: $(echo "$dyn" | cut -c1-120)..."; else fail "live: no divergence / spike finding"; fi
n=$(grep -c '^doctor: error lr_high' "$T/bad.log")
[ "$n" -eq 1 ] && ok "live: each finding printed once" || fail "live: lr_high printed $n times"

"$Y" doctor "$T/runs/bad" out="$T/bad.json" >"$T/bad.doc" 2>&1
rc=$?
cat "$T/bad.doc"
[ $rc -eq 3 ] && ok "offline: exit 3 with findings" || fail "offline: exit $rc, expected 3"
grep -q '^error   lr_high: step 0: the weights'"'"' lr 0.2' "$T/bad.doc" && ok "offline: lr_high names step 0 and lr 0.2" \
    || fail "offline: lr_high"
grep -q '^warning no_warmup: warmup_epochs=0 (no warmup steps): step 0 already ran at the weights'"'"' lr 0.2' "$T/bad.doc" \
    && ok "offline: no_warmup" || fail "offline: no_warmup"
grep -Eq '^(error   divergence: .*epoch [0-9]+: validation loss|warning loss_spikes: .*step [0-9]+: )' "$T/bad.doc" \
    && ok "offline: the run's own evidence (epochs / steps with values)" || fail "offline: no divergence / spike evidence"
grep -q '^next run: lr0=0.01 warmup_epochs=3' "$T/bad.doc" && ok "offline: next run: lr0=0.01 warmup_epochs=3" \
    || fail "offline: next run line"
# every finding has a next setting of the form key=value
nf=$(grep -cE '^(error|warning|note) ' "$T/bad.doc")
nn=$(grep -cE '^        next: [a-z_0-9]+=[^ ]+' "$T/bad.doc")
[ "$nf" -ge 3 ] && [ "$nf" -eq "$nn" ] && ok "offline: $nf findings, each with a key=value next setting" \
    || fail "offline: $nf findings, $nn next settings"
grep -q '"kind": "lr_high", "severity": "error", "step": 0' "$T/bad.json" && grep -q '"next": "lr0=0.01 warmup_epochs=3' "$T/bad.json" \
    && ok "out=JSON holds the findings" || fail "out=JSON"

# --- the healthy run: lr0=0.01 with the default warmup
t0=$(date +%s)
"$Y" train $ARGS lr0=0.01 name=good >"$T/good.log" 2>&1 || {
    fail "healthy run failed"
    tail -5 "$T/good.log"
}
echo "healthy run: $(($(date +%s) - t0)) s"
if grep -q '^doctor:' "$T/good.log"; then
    fail "live: findings on the healthy run"
    grep '^doctor:' "$T/good.log"
else
    ok "live: nothing printed on the healthy run"
fi
"$Y" doctor run="$T/runs/good" >"$T/good.doc" 2>&1
rc=$?
cat "$T/good.doc"
[ $rc -eq 0 ] && grep -q '^no LR/batch problems found' "$T/good.doc" && ok "offline: healthy run quiet, exit 0" \
    || fail "offline: healthy run: exit $rc"

# --- non-finite gradients injected at steps 5 and 6
YOLOC_FAULT_NONFINITE=5,6 "$Y" train $(echo $ARGS | sed 's/epochs=4/epochs=2/') lr0=0.01 name=nan >"$T/nan.log" 2>&1 \
    || fail "fault run failed"
grep -q '^doctor: warning nonfinite_steps: 1 optimizer step skipped .*: step 5 ' "$T/nan.log" \
    && ok "live: the first skipped step (5) reported when it happened" || { fail "live: nonfinite_steps"; grep doctor "$T/nan.log"; }
"$Y" doctor "$T/runs/nan" >"$T/nan.doc" 2>&1
grep -q 'nonfinite_steps: 2 optimizer steps skipped .*step 5 (lr [0-9.e-]*); step 6 .*at most 2 in a row' "$T/nan.doc" \
    && ok "offline: steps 5 and 6 skipped" || { fail "offline: nonfinite_steps"; cat "$T/nan.doc"; }

# --- doctor=False, usage errors
"$Y" train $(echo $ARGS | sed 's/epochs=4/epochs=1/') lr0=0.2 warmup_epochs=0 force=True doctor=False name=off >"$T/off.log" 2>&1
grep -q '^doctor:' "$T/off.log" && fail "doctor=False still prints" || ok "doctor=False: no live lines"
err() { # name, expected message fragment, args...
    name=$1 msg=$2
    shift 2
    "$Y" doctor "$@" >"$T/err.out" 2>&1
    rc=$?
    if [ $rc -eq 1 ] && grep -q "$msg" "$T/err.out"; then ok "$name: $(grep -m1 . "$T/err.out")"; else
        fail "$name: exit $rc"
        cat "$T/err.out"
    fi
}
err "no run" "which run?"
err "missing directory" "neither steps.csv nor results.csv" "$T/nothing"
err "unknown key" "unknown key 'lr0'" "$T/runs/good" lr0=0.1
err "two directories" "one run directory at a time" "$T/runs/good" "$T/runs/bad"
err "given twice" "given twice" "$T/runs/good" run="$T/runs/bad"

[ $fails -eq 0 ] && echo "test_doctor_cli: all passed" || echo "test_doctor_cli: $fails FAILED"
[ $fails -eq 0 ]
