#!/bin/sh
# Ultralytics users' command lines and files, unchanged (tests/cli): every
# Ultralytics 8.3 detection key is accepted; the ones yoloc implements do
# what they mean (each checked on the output), the others say why they
# change nothing; `cfg=args.yaml` written by an Ultralytics 8.3 training
# (tests/train/fixtures/ul/args.yaml, tools/make_ultralytics_args.py)
# starts a run with the same resolved settings, every difference listed
# and documented. Runs on the synthetic set; no ../shared needed.
# Usage: test_ul_keys.sh path/to/yoloc
Y=${1:?usage: test_ul_keys.sh path/to/yoloc}
Y=$(cd "$(dirname "$Y")" && pwd)/$(basename "$Y") # the layout check runs in another folder
HERE=$(cd "$(dirname "$0")/../.." && pwd)
M=$HERE/tests/train/yolov8t.yaml
UL=$HERE/tests/train/fixtures/ul/args.yaml
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
D=synth:images=48,imgsz=64
tr() { # tr NAME ARGS...: a one-epoch training on the synthetic set
    n=$1; shift
    "$Y" train data=$D model=$M imgsz=64 epochs=1 batch=8 workers=1 plots=False tensorboard=False project="$T" \
        name="$n" exist_ok=True "$@" >"$T/$n.log" 2>&1
}
rows() { # the validation table's class rows of a run's final block
    awk '/^ +Class +Images/ {blk = ""; on = 1; next} on && NF == 7 && $1 != "all" {blk = blk $1 " "} END {print blk}' "$T/$1.log"
}

# --- cfg=args.yaml from Ultralytics: every key accepted, the same values
if "$Y" train cfg="$UL" data=$D model=yolo11n.yaml imgsz=64 epochs=1 workers=1 plots=False project="$T" name=cfgul \
        exist_ok=True >"$T/cfgul.log" 2>&1; then
    notes=$(grep -c '^note: .* is accepted and not applied' "$T/cfgul.log")
    grep -q "^note: save_dir=.* is accepted and not applied: the run directory is project/name" "$T/cfgul.log" &&
        [ "$notes" -eq 1 ] && ok "train cfg=args.yaml (Ultralytics 8.3): accepted; one note, save_dir" ||
        { bad "train cfg=args.yaml notes ($notes):"; grep '^note' "$T/cfgul.log"; }
    # resolved settings: Ultralytics' file against the args.yaml yoloc wrote
    awk -v ours="$T/cfgul/args.yaml" '
        function norm(v) { gsub(/^'"'"'|'"'"'$/, "", v); if (v == "true") v = "True"; if (v == "false") v = "False"
                           if (v ~ /^-?[0-9.]+(e-?[0-9]+)?$/) v = v + 0; return v }
        BEGIN { while ((getline line < ours) > 0) { k = line; sub(/:.*/, "", k); v = line; sub(/^[^:]*: ?/, "", v); y[k] = norm(v) } }
        { k = $1; sub(/:$/, "", k); v = $0; sub(/^[^:]*: ?/, "", v)
          if (k in over) next
          if (v == "null") { nulls = nulls " " k; next }
          if (!(k in y)) { missing = missing " " k; next }
          if (norm(v) != y[k]) { diff = diff " " k "(" v " vs " y[k] ")" } else same++ }
        BEGIN { split("data model imgsz epochs project name exist_ok plots workers save_dir", o, " "); for (i in o) over[o[i]] = 1 }
        END { printf "same %d; null in Ultralytics (yoloc default):%s; missing:%s; different:%s\n", same, nulls, missing, diff
              exit (missing != "" || diff != "") }' "$UL" >"$T/diff.txt" &&
        ok "cfg=args.yaml resolves like Ultralytics: $(cat "$T/diff.txt") (given on the command line: data model imgsz epochs project name exist_ok plots workers; save_dir noted)" ||
        { bad "cfg=args.yaml resolves differently:"; cat "$T/diff.txt"; }
else
    bad "train cfg=args.yaml:"; tail -3 "$T/cfgul.log"
fi

# --- single_cls, fraction, classes (train), with the validation table as the witness
tr base && r=$(rows base) && [ "$r" = "rectangle ellipse triangle " ] && ok "train: classes $r" || bad "base run: '$r'"
tr single single_cls=True && r=$(rows single) && [ "$r" = "item " ] && ok "single_cls=True: one class, '$r'" ||
    { bad "single_cls: '$r'"; tail -3 "$T/single.log"; }
b0=$(sed -n 's/^steps: \([0-9]*\) batches per epoch.*/\1/p' "$T/base.log")
tr frac fraction=0.5 && b1=$(sed -n 's/^steps: \([0-9]*\) batches per epoch.*/\1/p' "$T/frac.log") &&
    grep -q "fraction=0.5: the first 24 of 48 training images" "$T/frac.log" && [ "$b1" -lt "$b0" ] &&
    ok "fraction=0.5: the first 24 of 48 training images, $b1 batches per epoch instead of $b0" ||
    { bad "fraction: '$b0' '$b1'"; grep -i fraction "$T/frac.log"; }
tr cls 'classes=[0, 2]' && r=$(rows cls) && [ "$r" = "rectangle triangle " ] && ok "classes=[0, 2]: labels of '$r'" ||
    { bad "classes: '$r'"; tail -3 "$T/cls.log"; }
tr cls2 classes=7 && bad "classes=7 on 3 classes was accepted" ||
    { grep -q "key 'classes': class 7 is not in the dataset (3 classes, 0..2)" "$T/cls2.log" && ok "classes=7: refused, naming the key" ||
        { bad "classes=7:"; tail -2 "$T/cls2.log"; }; }

# --- predict: classes, agnostic_nms, the drawing keys
W=$T/base/weights/last.safetensors
img=$HERE/tests/fuzz/corpus/image/rgb444.jpg
pr() { n=$1; shift; "$Y" predict model="$W" source="$img" imgsz=64 conf=0.001 max_det=50 save_txt=True project="$T" \
    name="$n" exist_ok=True "$@" >"$T/$n.plog" 2>&1; }
if [ -n "$img" ] && pr p0 && pr p1 classes=0 && pr p2 agnostic_nms=True iou=0.3 && pr p3 show_labels=False line_width=1; then
    st=$(basename "$img"); st=${st%.*}
    n0=$(wc -l <"$T/p0/labels/$st.txt"); n2=$(wc -l <"$T/p2/labels/$st.txt")
    others=$(awk '$1 != 0' "$T/p1/labels/$st.txt" | wc -l); before=$(awk '$1 != 0' "$T/p0/labels/$st.txt" | wc -l)
    [ "$others" -eq 0 ] && [ "$before" -gt 0 ] && ok "predict classes=0: only class 0 ($(wc -l <"$T/p1/labels/$st.txt") of $n0 boxes)" || bad "classes=0: $others others (before: $before)"
    [ "$n2" -le "$n0" ] && ok "predict agnostic_nms=True iou=0.3: $n2 boxes (class-aware: $n0)" || bad "agnostic_nms: $n2 > $n0"
    cmp -s "$T/p0/$st.jpg" "$T/p3/$st.jpg" && bad "show_labels=False line_width=1 drew the same image" ||
        ok "predict show_labels=False line_width=1: a different drawing"
else
    bad "predict runs:"; tail -2 "$T"/p*.plog
fi

# --- results.csv: Ultralytics' columns, time second
head -n 1 "$T/base/results.csv" | grep -q "^epoch,time,train/box_loss," &&
    awk -F, 'NR == 2 { exit !($2 > 0) }' "$T/base/results.csv" && ok "results.csv: epoch, time ($(awk -F, 'NR == 2 {print $2}' "$T/base/results.csv") s), train/box_loss, ..." ||
    { bad "results.csv header:"; head -n 2 "$T/base/results.csv"; }

# --- bgr: a different augmentation stream only when given
rs() { cut -d, -f1,3- "$T/$1/results.csv"; } # the run's results but the time column
tr bgr bgr=1.0 && [ "$(rs bgr)" != "$(rs base)" ] && ok "bgr=1.0: trained on channel-swapped images (other losses)" ||
    bad "bgr=1.0: the same run"
tr bgr0 bgr=0.0 && [ "$(rs bgr0)" = "$(rs base)" ] && ok "bgr=0.0: the default, the same run" || bad "bgr=0.0 changed the run"

# --- val save_json: Ultralytics' predictions.json (image_id from the file name)
"$Y" data export data=$D dir="$T/ds" >"$T/export.log" 2>&1
if "$Y" val model="$W" data="$T/ds/data.yaml" imgsz=64 conf=0.001 save_json=True project="$T" name=v >"$T/val.log" 2>&1 &&
    [ -s "$T/v/predictions.json" ]; then
    n=$(grep -c '"category_id"' "$T/v/predictions.json")
    one=$(sed -n '2p' "$T/v/predictions.json")
    echo "$one" | grep -Eq '^\{"image_id": ("[^"]*"|[0-9]+), "file_name": "[^"]+\.(jpg|png)", "category_id": [1-3], "bbox": \[[-0-9.e]+, [-0-9.e]+, [0-9.e]+, [0-9.e]+\], "score": [0-9.e-]+\},?$' &&
        [ "$n" -gt 0 ] && ok "val save_json=True: $n predictions in the val run's predictions.json, e.g. $one" ||
        { bad "predictions.json:"; head -n 3 "$T/v/predictions.json"; }
else
    bad "val save_json=True:"; tail -3 "$T/val.log" "$T/export.log"
fi

# --- the run layout of Ultralytics 8: runs/detect/train, train2, predict, val
mkdir -p "$T/cwd"
if (cd "$T/cwd" && "$Y" train data=$D model=$M imgsz=64 epochs=1 batch=8 workers=1 plots=False tensorboard=False >"$T/l1.log" 2>&1 &&
    "$Y" train data=$D model=$M imgsz=64 epochs=1 batch=8 workers=1 plots=False tensorboard=False >"$T/l2.log" 2>&1 &&
    "$Y" predict model=runs/detect/train/weights/last.safetensors source="$img" imgsz=64 >"$T/l3.log" 2>&1 &&
    "$Y" val model=runs/detect/train/weights/last.safetensors data="$T/ds/data.yaml" imgsz=64 save_json=True \
        >"$T/l4.log" 2>&1) &&
    [ -s "$T/cwd/runs/detect/train/results.csv" ] && [ -s "$T/cwd/runs/detect/train2/results.csv" ] &&
    [ -s "$T/cwd/runs/detect/predict/$(basename "${img%.*}").jpg" ] && [ -s "$T/cwd/runs/detect/val/predictions.json" ]; then
    ok "run layout: runs/detect/train, runs/detect/train2, runs/detect/predict, runs/detect/val"
else
    bad "run layout:"; find "$T/cwd/runs" -maxdepth 2 | head; tail -2 "$T"/l?.log
fi

# --- keys that change nothing here say so; mode; task; None; typos
tr notes cache=ram multi_scale=True mode=val dropout=0.1 line_width=None half=True
for k in "cache=ram" "multi_scale=True" "dropout=0.1" "half=True"; do
    grep -q "^note: $k is accepted and not applied: " "$T/notes.log" && ok "$k: $(grep "^note: $k" "$T/notes.log" | sed 's/.*not applied: //')" ||
        { bad "$k: no note"; }
done
grep -q "^note: mode=val (from the command line) is not applied: the command decides, yoloc train" "$T/notes.log" &&
    ok "mode=val on yoloc train: noted, the command decides" || bad "mode note"
grep -q "line_width" "$T/notes.log" && bad "line_width=None (the default) was noted" || ok "line_width=None: the default, nothing to say"
tr task task=segment && bad "task=segment accepted" ||
    { grep -q "key 'task': 'segment' is not one of: detect" "$T/task.log" && ok "task=segment: refused (detection only)" || bad "task:"; }
tr typo epoch=3 && bad "epoch=3 accepted" ||
    { grep -q "unknown key 'epoch' (did you mean 'epochs'" "$T/typo.log" && ok "a typo still fails: did you mean 'epochs'" || bad "typo"; }
exit $fail
