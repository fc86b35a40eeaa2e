#!/bin/sh
# `yoloc data plot` and `yoloc data bench` on the built-in synthetic dataset:
# the plots are written as PNG files and the bench reports images/s.
# Usage: test_data_tools.sh path/to/yoloc
Y=${1:?usage: test_data_tools.sh path/to/yoloc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
"$Y" data plot data=synth:images=32,imgsz=128 dir="$T" imgsz=128 batch=8 >"$T/out" 2>&1 || { echo "FAIL data plot"; cat "$T/out"; fail=1; }
for f in labels.png train_batch0.png; do
    if [ -s "$T/$f" ] && [ "$(head -c 8 "$T/$f" | od -An -c | tr -d ' ')" = "211PNG\r\n032\n" ]; then
        echo "ok   $f written"
    else
        echo "FAIL $f missing or not a PNG"; fail=1
    fi
done
"$Y" data bench data=synth:images=32,imgsz=128 imgsz=128 batch=8 workers=2 batches=4 >"$T/bench" 2>&1 || { echo "FAIL data bench"; cat "$T/bench"; fail=1; }
grep -q "images/s" "$T/bench" && echo "ok   bench: $(grep 'images/s' "$T/bench" | head -1)" || { echo "FAIL bench output"; cat "$T/bench"; fail=1; }
"$Y" data plot data=synth dir="$T" imgsz=100 >"$T/err" 2>&1 && { echo "FAIL imgsz=100 accepted"; fail=1; }
exit $fail
