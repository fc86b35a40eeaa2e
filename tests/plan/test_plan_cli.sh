#!/bin/sh
# `yoloc plan` as a process (tiny model, synthetic data): it prints the
# decisions with their reasons and writes plan.yaml; `yoloc train
# cfg=plan.yaml dry=True` starts with the plan's batch, accumulate and peak
# LR; a batch that does not fit the memory is refused (exit 1) with its
# prediction and the largest batch that fits; a batch that is not one is an
# error naming the key; `yoloc train batch=-1` chooses through the planner.
# Usage: test_plan_cli.sh path/to/yoloc
Y=${1:?usage: test_plan_cli.sh path/to/yoloc}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
COMMON="model=$ROOT/tests/train/yolov8t.yaml data=synth:classes=2,images=64,val=16,imgsz=96 imgsz=96 epochs=100 workers=1"

# --- a plan for 1 process, auto batch, written to plan.yaml
"$Y" plan $COMMON optimizer=SGD check=False mem=64 plan_file="$T/plan.yaml" >"$T/plan.log" 2>&1 \
    || { echo "FAIL plan"; tail -5 "$T/plan.log"; fail=1; }
grep -q "^  batch: 16  # no batch given (batch=-1): 16 images per forward, BatchNorm's batch in the defaults" "$T/plan.log" \
    && grep -q "towards the effective batch 64 (nbs 64" "$T/plan.log" && grep -q "memory is not the limit" "$T/plan.log" \
    && echo "ok   batch=-1: 16 per forward towards the training's effective batch 64, with its reason" || { echo "FAIL batch decision"; grep "batch:" "$T/plan.log"; fail=1; }
grep -q "^  accumulate: 4  # max(round(effective batch 64 / (1 process x batch 16)), 1) = 4" "$T/plan.log" \
    && echo "ok   accumulate decision printed" || { echo "FAIL accumulate decision"; fail=1; }
grep -q "^  predicted peak of one training process at batch 16: " "$T/plan.log" \
    && echo "ok   predicted memory reported" || { echo "FAIL no predicted memory"; fail=1; }
grep -q "^batch: 16$" "$T/plan.yaml" && grep -q "^accumulate: 4$" "$T/plan.yaml" && grep -q "^# " "$T/plan.yaml" \
    && ! grep -q "^plan_file:" "$T/plan.yaml" \
    && echo "ok   plan.yaml: key: value lines with reasons as comments" || { echo "FAIL plan.yaml"; cat "$T/plan.yaml"; fail=1; }

# --- the trainer loads it and starts the same way
peak=$(sed -n 's/^lr: SGD; .* -> peak \([0-9.e-]*\)$/\1/p' "$T/plan.log")
"$Y" train cfg="$T/plan.yaml" dry=True project="$T/runs" >"$T/dry.log" 2>&1 \
    || { echo "FAIL train cfg=plan.yaml dry=True"; tail -5 "$T/dry.log"; fail=1; }
grep -q "batch: 16 per process x 1 process x accumulate 4 = effective batch 64 (nbs 64)" "$T/dry.log" \
    && grep -q -- "-> peak $peak$" "$T/dry.log" && [ -n "$peak" ] \
    && echo "ok   train cfg=plan.yaml: the plan's batch, accumulate and peak lr $peak" \
    || { echo "FAIL dry run differs from the plan"; grep -E "^(batch|lr):" "$T/dry.log"; fail=1; }

# --- a batch that does not fit is refused with the prediction and the largest that fits
"$Y" plan $COMMON batch=64 mem=0.05 check=False plan_file="$T/no.yaml" >"$T/no.log" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "error: refused: batch 64 needs a predicted peak of .* more than the .* this process has (mem=0.05 GiB); the largest batch that fits is [0-9]*" "$T/no.log" \
    && [ ! -f "$T/no.yaml" ] \
    && echo "ok   batch=64 mem=0.05 refused: $(grep -o 'needs a predicted peak of [0-9.]* [MGK]iB' "$T/no.log" | head -1), $(grep -o 'the largest batch that fits is [0-9]*' "$T/no.log" | head -1)" \
    || { echo "FAIL refusal (rc $rc)"; tail -3 "$T/no.log"; fail=1; }

# --- not a batch
"$Y" plan $COMMON batch=2.5 check=False plan_file= >"$T/bad.log" 2>&1 \
    && { echo "FAIL batch=2.5 accepted"; fail=1; } \
    || { grep -q "key 'batch': 2.5" "$T/bad.log" && echo "ok   batch=2.5 is an error naming the key" \
         || { echo "FAIL batch=2.5 message"; tail -2 "$T/bad.log"; fail=1; }; }

# --- yoloc train batch=-1 goes through the planner
"$Y" train $COMMON batch=0.5 mem=64 dry=True project="$T/runs" >"$T/auto.log" 2>&1 \
    || { echo "FAIL train batch=0.5"; tail -5 "$T/auto.log"; fail=1; }
grep -q "^batch: 16 per process, batch=0.5: 16 images per forward" "$T/auto.log" \
    && grep -q "^accumulate: 4 = max(round(effective batch 64" "$T/auto.log" \
    && grep -q "batch: 16 per process x 1 process x accumulate 4" "$T/auto.log" \
    && echo "ok   train batch=0.5: chosen by the planner, reason printed" \
    || { echo "FAIL train batch=0.5"; grep "batch" "$T/auto.log"; fail=1; }
exit $fail
