#!/bin/sh
# Compiles the whole tree (library, CLI, tests, fuzz drivers, benchmarks)
# with -Werror for several x86-64 targets, so a warning that GCC emits only
# for one instruction set fails CI whatever CPU CI runs on; then runs the
# kernel tests (ops/) of each build that this CPU can execute, so every
# code path of the hot loops is checked against the reference here.
#
#   default         the portable build: YOLOC_NATIVE=OFF, hot loops
#                   dispatched at run time (target_clones)
#   x86-64-v3       AVX2 + FMA, one target
#   x86-64-v4       AVX-512 F/BW/CD/DQ/VL, one target
#   sapphirerapids  AVX-512 + BF16 + AMX + FP16, one target
#
# Usage: sh scripts/ci-isa-matrix.sh [build-root]   (default: build-isa)
set -eu
cd "$(dirname "$0")/.."
ROOT=${1:-build-isa}
JOBS=$(nproc)
flags_of() { grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true; }
has() { flags_of | grep -qw "$1"; }
can_run() { # target
    case "$1" in
    default) return 0 ;;
    x86-64-v3) has avx2 && has fma && has bmi2 ;;
    x86-64-v4) has avx512f && has avx512bw && has avx512cd && has avx512dq && has avx512vl ;;
    sapphirerapids) has amx_tile && has avx512_fp16 && has avx512_bf16 ;;
    *) return 1 ;;
    esac
}
for t in default x86-64-v3 x86-64-v4 sapphirerapids; do
    dir="$ROOT/$t"
    if [ "$t" = default ]; then
        cflags=""
    else
        cflags="-march=$t"
    fi
    echo "== $t: compile with -Werror${cflags:+ ($cflags)}"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DYOLOC_WERROR=ON -DYOLOC_NATIVE=OFF \
        -DCMAKE_C_FLAGS="$cflags" >/dev/null
    cmake --build "$dir" -j "$JOBS" >"$dir/build.log" 2>&1 || { tail -40 "$dir/build.log"; exit 1; }
    for b in bench/*.c; do
        b=$(basename "$b" .c)
        cmake --build "$dir" -j "$JOBS" --target "$b" >>"$dir/build.log" 2>&1 || { tail -40 "$dir/build.log"; exit 1; }
    done
    if can_run "$t"; then
        echo "== $t: kernel tests"
        (cd "$dir" && ctest -j "$JOBS" -R '^ops/' --output-on-failure >ctest.log 2>&1) || { cat "$dir/ctest.log"; exit 1; }
        grep 'tests passed' "$dir/ctest.log"
    else
        echo "== $t: kernel tests skipped: this CPU lacks the instructions of $t"
    fi
done
echo "ISA matrix passed"
