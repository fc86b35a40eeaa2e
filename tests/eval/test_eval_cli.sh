#!/bin/sh
# yoloc eval on ../shared/data/coco128 (val split) with prediction files made
# from the ground truth by tests/eval/make_preds.sh (seeded, no Python):
#  - perfect predictions: metric=coco gives exactly 1 (mAP50 and mAP50-95);
#    metric=ultralytics gives 0.995, the most its trapezoid can give (the
#    curve is closed with precision 0 at recall 1, as the validator prints)
#  - no prediction files: exactly 0 with both methods
#  - noisy predictions (dropped, jittered, duplicated boxes, false positives,
#    random confidences): 0 < mAP50-95 < mAP50 < 1, the same on a second run
#  - bad prediction files: malformed lines, an unknown class, NaN and
#    out-of-range confidences, a file for an image not in the split are
#    reported by file and line, skipped, and counted in the totals
# Usage: sh tests/eval/test_eval_cli.sh path/to/yoloc (run from the source
# tree). Exit 77 (skipped) without ../shared/data or without the command.
set -u
Y=$1
D=../shared/data/coco128
HERE=$(dirname "$0")
if [ ! -f "$D/data.yaml" ]; then
    echo "SKIPPED: $D/data.yaml not found (no ../shared/data)"
    exit 77
fi
if ! "$Y" --help 2>/dev/null | grep -q '^  eval '; then
    echo "SKIPPED: 'yoloc eval' is not registered in this build"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}
# value of key $2 in the "all" object of metrics file $1
get() {
    grep '^"all"' "$1" | sed 's/.*"'"$2"'": \([^,}]*\).*/\1/'
}
# run NAME PRED_DIR METRIC: writes $T/NAME.json, $T/NAME.out, $T/NAME.err
run() {
    if ! "$Y" eval data="$D/data.yaml" pred="$2" metric="$3" out="$T/$1.json" \
        >"$T/$1.out" 2>"$T/$1.err"; then
        fail "$1: yoloc eval failed"
        cat "$T/$1.err" >&2
        return 1
    fi
    printf '  %-22s %-12s mAP50 %-22s mAP50-95 %s\n' "$1" "$3" "$(get "$T/$1.json" mAP50)" \
        "$(get "$T/$1.json" mAP50-95)"
}
# numcmp NAME A OP B: numeric comparison (eq, lt, near) with awk
numcmp() {
    awk -v a="$2" -v b="$4" -v op="$3" 'BEGIN {
        if (op == "eq") ok = (a + 0 == b + 0); else if (op == "lt") ok = (a + 0 < b + 0);
        else if (op == "near") ok = (a - b < 1e-9 && b - a < 1e-9);
        exit ok ? 0 : 1 }' || fail "$1: $2 $3 $4"
}

L=$D/labels/val
sh "$HERE/make_preds.sh" "$L" "$T/perfect" perfect 1 80
sh "$HERE/make_preds.sh" "$L" "$T/empty" empty 1 80
sh "$HERE/make_preds.sh" "$L" "$T/noisy" noisy 7 80

echo "yoloc eval on coco128 val:"
run perfect_coco "$T/perfect" coco && {
    [ "$(get "$T/perfect_coco.json" mAP50)" = 1 ] || fail "perfect coco mAP50 is not exactly 1"
    [ "$(get "$T/perfect_coco.json" mAP50-95)" = 1 ] || fail "perfect coco mAP50-95 is not exactly 1"
    [ "$(get "$T/perfect_coco.json" P)" = 1 ] || fail "perfect P is not 1"
    [ "$(get "$T/perfect_coco.json" R)" = 1 ] || fail "perfect R is not 1"
    grep -q 'Box(P' "$T/perfect_coco.out" || fail "no table header"
    grep -Eq '^ +all +128 +898 ' "$T/perfect_coco.out" || fail "row 'all' should read 128 images, 898 instances"
    grep -Eq '^ +person +[0-9]+ +[0-9]+ ' "$T/perfect_coco.out" || fail "no per-class row for person"
}
run perfect_ultralytics "$T/perfect" ultralytics && {
    numcmp "perfect ultralytics mAP50" "$(get "$T/perfect_ultralytics.json" mAP50)" near 0.995
    numcmp "perfect ultralytics mAP50-95" "$(get "$T/perfect_ultralytics.json" mAP50-95)" near 0.995
}
for m in coco ultralytics; do
    run "empty_$m" "$T/empty" $m && {
        [ "$(get "$T/empty_$m.json" mAP50)" = 0 ] || fail "empty $m mAP50 is not 0"
        [ "$(get "$T/empty_$m.json" mAP50-95)" = 0 ] || fail "empty $m mAP50-95 is not 0"
    }
    run "noisy_$m" "$T/noisy" $m && {
        a=$(get "$T/noisy_$m.json" mAP50) b=$(get "$T/noisy_$m.json" mAP50-95)
        numcmp "noisy $m" 0 lt "$b"
        numcmp "noisy $m" "$b" lt "$a"
        numcmp "noisy $m" "$a" lt 1
    }
done
"$Y" eval data="$D/data.yaml" pred="$T/noisy" metric=coco out="$T/again.json" >/dev/null 2>&1
diff -q "$T/noisy_coco.json" "$T/again.json" >/dev/null || fail "a second run gave other numbers"

# bad prediction files
cp -r "$T/perfect" "$T/bad"
f=$(ls "$T/bad" | head -n 1)
n=$(wc -l < "$T/bad/$f")
printf '0 0.5 0.5 0.1\n99 0.5 0.5 0.1 0.1 0.9\n0 0.5 0.5 0.1 0.1 nan\n0 0.5 0.5 0.1 0.1 1.5\nabc def\n' \
    >> "$T/bad/$f"
echo "0 0.5 0.5 0.1 0.1 0.9" > "$T/bad/not_in_the_dataset.txt"
run bad_coco "$T/bad" coco && {
    for k in 1 2 3 4 5; do
        grep -q "$f:$((n + k)):" "$T/bad_coco.err" || fail "line $((n + k)) of $f not reported"
    done
    grep -q "$f:$((n + 2)):.*unknown class id 99" "$T/bad_coco.err" || fail "unknown class not named"
    grep -q "$f:$((n + 3)):.*confidence nan" "$T/bad_coco.err" || fail "NaN confidence not named"
    grep -q "not_in_the_dataset.txt: no image named" "$T/bad_coco.err" || fail "stray file not reported"
    grep -q "skipped 1 prediction files and 5 lines" "$T/bad_coco.err" || fail "totals missing"
    grep -q '"skipped": {"files": 1, "lines": 5}' "$T/bad_coco.json" || fail "totals missing in json"
    [ "$(get "$T/bad_coco.json" mAP50-95)" = 1 ] || fail "the good lines should still score 1"
}
# argument errors
"$Y" eval data="$D/data.yaml" >/dev/null 2>&1 && fail "missing pred= accepted"
"$Y" eval data="$D/data.yaml" pred="$T/perfect" metric=voc >/dev/null 2>&1 && fail "metric=voc accepted"
"$Y" eval data="$D/data.yaml" pred="$T/nonexistent" >/dev/null 2>&1 && fail "missing folder accepted"

if [ $fails -gt 0 ]; then
    echo "test_eval_cli: $fails checks FAILED"
    exit 1
fi
echo "test_eval_cli: all checks passed"
