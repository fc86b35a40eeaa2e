#!/bin/sh
# Ultralytics checkpoints (tests/train/fixtures/pt/yolov8t_bccd.pt and
# yolo11t_bccd.pt, best.pt of short Ultralytics 8.3 trainings on BCCD,
# tools/make_ultralytics_ckpt.py --model yolov8t|yolo11t) used as model=X.pt
# by the commands, against what Ultralytics itself gave for each file
# (<name>_bccd.json):
#   - yoloc info: Ultralytics' parameter count;
#   - yoloc val (imgsz 160, batch 16, conf 0.001, iou 0.7, fp32): mAP50 and
#     mAP50-95 within 0.002 of `yolo val` (needs ../shared/data/bccd);
#   - yoloc predict (imgsz 160, conf 0.25, fp32): the same boxes, classes and
#     confidences as Ultralytics' predict (to 2e-5);
#   - yoloc train model=X.pt epochs=1: fine-tunes from it (every tensor
#     transferred) and validates.
# Usage: test_pt_cli.sh path/to/yoloc
Y=${1:?usage: test_pt_cli.sh path/to/yoloc}
BCCD=../shared/data/bccd
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

# One checkpoint: NAME (tests/train/NAME.yaml is its architecture), NP its
# parameter count as Ultralytics reports it.
check_ckpt() {
NAME=$1 NP=$2
PT=tests/train/fixtures/pt/${NAME}_bccd.pt
FX=tests/train/fixtures/pt/${NAME}_bccd.json
# info: the architecture from the checkpoint's own YAML dict
if "$Y" info model=$PT imgsz=160 >"$T/info" 2>&1 && grep -q "$NP parameters" "$T/info"; then
    ok "info $NAME.pt: $NP parameters, as Ultralytics reports"
else
    bad "info model=X.pt:"; cat "$T/info"
fi

# export format=pt / safetensors: the state dict written back, and read as
# weights= into the architecture's YAML, tensor for tensor (forward equal)
if "$Y" export model=$PT format=pt file="$T/back.pt" >"$T/exp" 2>&1 &&
    "$Y" export model=$PT format=safetensors file="$T/back.safetensors" >>"$T/exp" 2>&1; then
    same=1
    for w in "$T/back.pt" "$T/back.safetensors"; do
        "$Y" export model=tests/train/$NAME.yaml weights="$w" nc=3 format=safetensors file="$T/again.safetensors" \
            >>"$T/exp" 2>&1 || same=0
        # the tensors: the data sections (after the 8-byte length and the JSON header; metadata differs)
        for f in back again; do
            hl=$(od -An -t u8 -N8 "$T/$f.safetensors" | tr -d ' ')
            tail -c +$((9 + hl)) "$T/$f.safetensors" >"$T/$f.data"
        done
        [ -s "$T/back.data" ] && cmp -s "$T/again.data" "$T/back.data" || same=0
    done
    [ $same -eq 1 ] && ok "export format=pt / safetensors: read back as weights=, the same tensors" ||
        { bad "export round trip:"; tail -3 "$T/exp"; }
else
    bad "export format=pt:"; tail -3 "$T/exp"
fi
if "$Y" export model=$PT format=pt >"$T/exp2" 2>&1; then
    bad "export format=pt over its own input was not refused"
else
    grep -q "would write over" "$T/exp2" && ok "export format=pt refuses to write over the .pt it reads" ||
        { bad "export over the input:"; cat "$T/exp2"; }
fi

[ -d "$BCCD" ] || return 0

# val: Ultralytics' mAPs
want50=$(awk -F': ' '/"map50"/ {sub(/,$/, "", $2); print $2}' $FX)
want=$(awk -F': ' '/"map50_95"/ {sub(/,$/, "", $2); print $2}' $FX)
if "$Y" val model=$PT data=$BCCD/data.yaml imgsz=160 batch=16 conf=0.001 iou=0.7 amp=False workers=1 \
        out="$T/m.json" >"$T/val" 2>&1; then
    got50=$(sed -n 's/.*"all": {[^}]*"mAP50": \([0-9.e-]*\).*/\1/p' "$T/m.json")
    got=$(sed -n 's/.*"all": {[^}]*"mAP50-95": \([0-9.e-]*\).*/\1/p' "$T/m.json")
    if awk -v a="$got" -v b="$want" -v c="$got50" -v d="$want50" \
        'BEGIN { e = a - b; f = c - d; if (e < 0) e = -e; if (f < 0) f = -f; exit !(a != "" && e <= 0.002 && f <= 0.002) }'; then
        ok "val $NAME.pt: mAP50 $got50 mAP50-95 $got (Ultralytics: $want50, $want)"
    else
        bad "val $NAME.pt: mAP50 '$got50' mAP50-95 '$got', Ultralytics $want50, $want"; tail -5 "$T/val"
    fi
else
    bad "val model=X.pt failed:"; tail -5 "$T/val"
fi

# predict: Ultralytics' boxes, line for line
img=$BCCD/images/val/BloodImage_00000.jpg
if "$Y" predict model=$PT source=$img imgsz=160 conf=0.25 iou=0.7 amp=False save_txt=True save_conf=True project="$T" name=p$NAME \
        >"$T/pred" 2>&1; then
    sed -n '/"boxes"/,/]/p' $FX | sed -n 's/^ *"\([0-9][^"]*\)".*/\1/p' >"$T/want.txt"
    got_file=$(find "$T/p$NAME" -name 'BloodImage_00000.txt' | head -n 1)
    if [ -n "$got_file" ] && awk 'NR == FNR { w[FNR] = $0; n = FNR; next }
            { split(w[FNR], a, " "); if (NF != 6 || a[1] != $1) exit 1
              for (k = 2; k <= 6; k++) { d = a[k] - $k; if (d < 0) d = -d; if (d > 2e-5) exit 1 } m = FNR }
            END { exit !(m == n && n > 0) }' "$T/want.txt" "$got_file"; then
        ok "predict $NAME.pt: the $(wc -l <"$T/want.txt") boxes of Ultralytics' predict"
    else
        bad "predict $NAME.pt differs from Ultralytics:"; paste "$T/want.txt" "${got_file:-/dev/null}" | head -5
    fi
else
    bad "predict model=X.pt failed:"; tail -5 "$T/pred"
fi

# train: fine-tuning from the checkpoint
[ -d "$BCCD" ] || return 0
if "$Y" train model=$PT data=$BCCD/data.yaml epochs=1 imgsz=160 batch=16 workers=1 plots=False \
        tensorboard=False project="$T" name=ft$NAME >"$T/train" 2>&1 && [ -f "$T/ft$NAME/weights/last.safetensors" ]; then
    ok "train $NAME.pt epochs=1: fine-tuned ($(tail -n 1 "$T/ft$NAME/results.csv" | cut -c1-40))"
else
    bad "train $NAME.pt:"; tail -5 "$T/train"
fi
}

check_ckpt yolov8t 355,121
check_ckpt yolo11t 810,649
if [ ! -d "$BCCD" ]; then
    echo "skip: $BCCD is missing (val, predict and train need the BCCD images)"
    [ $fail -eq 0 ] && exit 77 || exit 1
fi
PT=tests/train/fixtures/pt/yolov8t_bccd.pt

# predict, correct, retrain: save_txt's lines (no save_conf) are labels data check accepts, every one
mkdir -p "$T/ds/images/val" "$T/ds/labels/val"
cp "$img" "$T/ds/images/val/"
"$Y" predict model=$PT source=$img imgsz=160 save_txt=True project="$T" name=pl >/dev/null 2>&1
cp "$T/pl/labels/BloodImage_00000.txt" "$T/ds/labels/val/" 2>/dev/null
printf 'path: %s\ntrain: images/val\nval: images/val\nnames: [RBC, WBC, Platelets]\n' "$T/ds" >"$T/ds/data.yaml"
nl=$(wc -l <"$T/pl/labels/BloodImage_00000.txt" 2>/dev/null || echo 0)
"$Y" data check data="$T/ds/data.yaml" >"$T/check.log" 2>&1
if [ "$nl" -gt 0 ] && grep -q "^val: 1 images, 0 backgrounds, 0 corrupt (skipped), $nl boxes, 0 label lines dropped" \
        "$T/check.log"; then
    ok "predict save_txt=True: its $nl lines are labels yoloc data check accepts, every one"
else
    bad "predict save_txt as labels ($nl lines):"; cat "$T/check.log"
fi

exit $fail
