#!/bin/sh
# make_preds.sh LABEL_DIR OUT_DIR MODE SEED NC
# Writes YOLO-format prediction files ("class cx cy w h conf") made from the
# ground-truth labels in LABEL_DIR, one file per label file, into OUT_DIR.
#   MODE perfect: every box exactly, confidences in [0.5, 1)
#   MODE empty:   no files at all
#   MODE noisy:   20% of boxes dropped, the rest jittered (centre by ~5% of
#                 the size, size by ~exp(+-0.2)), random confidences, 25%
#                 duplicated with a lower confidence, 0-2 false positives of
#                 random classes per image
# Deterministic: a Park-Miller generator (x = 16807 x mod 2^31-1, exact in
# awk's doubles) seeded from SEED and the file's position, not awk's rand(),
# so mawk and gawk write the same files.
set -eu
labels=$1 out=$2 mode=$3 seed=$4 nc=$5
mkdir -p "$out"
[ "$mode" = empty ] && exit 0
i=0
for f in "$labels"/*.txt; do
    [ -e "$f" ] || continue
    i=$((i + 1))
    awk -v mode="$mode" -v seed="$seed" -v idx="$i" -v nc="$nc" '
    function rnd() { st = (st * 16807) % 2147483647; return st / 2147483647 }
    function nrm(  k, s) { s = 0; for (k = 0; k < 12; k++) s += rnd(); return s - 6 }
    BEGIN { st = (seed * 7919 + idx * 104729) % 2147483646 + 1; for (k = 0; k < 3; k++) rnd() }
    NF >= 5 {
        c = $1; x = $2; y = $3; w = $4; h = $5
        if (mode == "perfect") {
            printf "%d %s %s %s %s %.6f\n", c, x, y, w, h, 0.5 + 0.5 * rnd()
            next
        }
        if (rnd() < 0.2) next
        x += 0.05 * w * nrm(); y += 0.05 * h * nrm()
        w *= exp(0.2 * nrm()); h *= exp(0.2 * nrm())
        conf = 0.05 + 0.95 * rnd()
        printf "%d %.6f %.6f %.6f %.6f %.4f\n", c, x, y, w, h, conf
        if (rnd() < 0.25)
            printf "%d %.6f %.6f %.6f %.6f %.4f\n", c, x + 0.02 * w, y, w * 1.1, h, conf * rnd()
    }
    END {
        if (mode != "noisy") exit
        nfp = int(3 * rnd())
        for (k = 0; k < nfp; k++)
            printf "%d %.6f %.6f %.6f %.6f %.4f\n", int(nc * rnd()), 0.1 + 0.8 * rnd(),
                   0.1 + 0.8 * rnd(), 0.05 + 0.3 * rnd(), 0.05 + 0.3 * rnd(), 0.05 + 0.6 * rnd()
    }' "$f" > "$out/$(basename "$f")"
done
