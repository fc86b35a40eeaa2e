#!/bin/sh
# `yoloc data check` and `yoloc data export` end to end: export a small
# synthetic dataset, check it (exit 0, no problems), break a copy (truncated
# PNG, a text file named .jpg, a zero-byte image, bad label lines, a missing
# label file, a label file without an image) and check the report and the
# JSON, make a split unusable (exit 1), bad arguments (exit 1), and, when
# ../shared/data exists, the coco128 and bccd numbers.
# Usage: test_data_check.sh path/to/yoloc  (run from the source folder)
YOLOC=$1
[ -x "$YOLOC" ] || { echo "usage: $0 path/to/yoloc"; exit 2; }
TMP=$(mktemp -d /tmp/yoloc_test_data_check_XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT
FAILS=0
CHECKS=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# expect_rc WANT CMD...: runs CMD with stdout+stderr to $TMP/out
expect_rc() {
    want=$1; shift
    CHECKS=$((CHECKS + 1))
    "$@" > "$TMP/out" 2>&1
    rc=$?
    [ "$rc" -eq "$want" ] || { fail "exit $rc (expected $want): $*"; cat "$TMP/out" >&2; }
}
# expect_in FILE TEXT: FILE contains TEXT (fixed string)
expect_in() {
    CHECKS=$((CHECKS + 1))
    grep -qF -- "$2" "$1" || { fail "$1 does not contain: $2"; sed 's/^/  | /' "$1" >&2; }
}

# 1. export + clean check
expect_rc 0 "$YOLOC" data export data=synth:classes=3,images=6,val=2,imgsz=64,seed=1 dir="$TMP/ds"
expect_in "$TMP/ds/data.yaml" "train: images/train"
[ -f "$TMP/ds/images/train/000005.png" ] && [ -f "$TMP/ds/labels/val/000001.txt" ] || fail "export files missing"
expect_rc 0 "$YOLOC" data check data="$TMP/ds/data.yaml" out="$TMP/clean.json"
expect_in "$TMP/out" "no problems found"
expect_in "$TMP/clean.json" '"train": {"images": 6, "backgrounds": 0, "corrupt": 0,'
expect_in "$TMP/clean.json" '"usable": true'

# 2. break it
D="$TMP/ds"
head -c 100 "$D/images/train/000000.png" > "$TMP/cut" && mv "$TMP/cut" "$D/images/train/000000.png"
echo "hello, not a picture" > "$D/images/train/text.jpg"
: > "$D/images/train/zero.png"
printf '7 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1\n' >> "$D/labels/train/000001.txt"
L1=$(wc -l < "$D/labels/train/000001.txt")
rm "$D/labels/train/000002.txt"
echo "0 0.5 0.5 0.2 0.2" > "$D/labels/train/ghost.txt"
expect_rc 0 "$YOLOC" data check data="$D/data.yaml" out="$TMP/broken.json"
expect_in "$TMP/out" "images/train/000000.png: corrupt PNG"
expect_in "$TMP/out" "images/train/text.jpg: not an image (content is not JPEG, PNG or BMP)"
expect_in "$TMP/out" "images/train/zero.png: empty file"
expect_in "$TMP/out" "labels/train/000001.txt:$((L1 - 1)): class id 7 is out of range [0, 3)"
expect_in "$TMP/out" "labels/train/000001.txt:$L1: expected 5 fields (class cx cy w h), got 4"
expect_in "$TMP/out" "labels/train/ghost.txt: label file has no image (ignored)"
expect_in "$TMP/broken.json" '"train": {"images": 5, "backgrounds": 1, "corrupt": 3,'
expect_in "$TMP/broken.json" '"dropped_lines": 2,'
expect_in "$TMP/broken.json" "\"line\": $L1, \"reason\": \"expected 5 fields (class cx cy w h), got 4\"}"
expect_in "$TMP/broken.json" '"reason": "empty file"}'

# 3. nothing usable in val: exit 1
for f in "$D"/images/val/*.png; do echo "broken" > "$f"; done
expect_rc 1 "$YOLOC" data check data="$D/data.yaml"
expect_in "$TMP/out" "error: split 'val' has no usable image"

# 4. bad arguments and paths
expect_rc 1 "$YOLOC" data check data="$TMP/nope.yaml"
expect_in "$TMP/out" "nope.yaml"
expect_rc 1 "$YOLOC" data check
expect_in "$TMP/out" "data=<data.yaml or synth> is required"
expect_rc 1 "$YOLOC" data check data="$D/data.yaml" foo=1
expect_in "$TMP/out" "unknown key 'foo'"
printf 'train: images/nowhere\nval: images/val\nnames: [a]\n' > "$D/bad.yaml"
expect_rc 1 "$YOLOC" data check data="$D/bad.yaml"
expect_in "$TMP/out" "bad.yaml:1:8: key 'train': 'images/nowhere' does not exist"
expect_rc 1 "$YOLOC" data export data=synth:classes=12 dir="$TMP/x"
expect_in "$TMP/out" "classes=12 is outside [1, 8]"

# 5. the shared datasets, checked in copies this test owns (../shared is
# never written, whatever its permissions on this machine): coco128's
# labels folder is made read-only (mode bits, which yoloc honours even for
# root), so the check cache must degrade to a warning and not appear
if [ -f ../shared/data/coco128/data.yaml ]; then
    cp -r ../shared/data/coco128 ../shared/data/bccd "$TMP/" && chmod -R u+w "$TMP/coco128" "$TMP/bccd" \
        || fail "cannot copy the shared datasets into $TMP"
    chmod a-w "$TMP/coco128/labels"
    expect_rc 0 "$YOLOC" data check data="$TMP/coco128/data.yaml" out="$TMP/coco.json"
    expect_in "$TMP/coco.json" '"train": {"images": 128, "backgrounds": 2, "corrupt": 0, "boxes": 929, "dropped_lines": 0'
    expect_in "$TMP/coco.json" '"val": {"images": 128, "backgrounds": 0, "corrupt": 0, "boxes": 898, "dropped_lines": 0'
    [ -e "$TMP/coco128/labels/train.yoloc.cache" ] && fail "a cache was written into a read-only labels folder"
    chmod u+w "$TMP/coco128/labels"
    expect_rc 0 "$YOLOC" data check data="$TMP/bccd/data.yaml" out="$TMP/bccd.json"
    expect_in "$TMP/bccd.json" '"train": {"images": 205, "backgrounds": 0, "corrupt": 0, "boxes": 2804,'
    expect_in "$TMP/bccd.json" '"val": {"images": 87, "backgrounds": 0, "corrupt": 0, "boxes": 1137,'
    expect_in "$TMP/bccd.json" '"test": {"images": 72, "backgrounds": 0, "corrupt": 0, "boxes": 945,'
fi

if [ "$FAILS" -ne 0 ]; then
    echo "test_data_check: $FAILS of $CHECKS checks FAILED" >&2
    exit 1
fi
if [ ! -f ../shared/data/coco128/data.yaml ]; then
    echo "SKIPPED: ../shared/data is absent: coco128/bccd numbers not checked ($CHECKS other checks passed)"
    exit 77
fi
echo "test_data_check: $CHECKS checks passed"
exit 0
