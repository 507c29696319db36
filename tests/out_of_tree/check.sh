#!/bin/sh
# The out-of-tree plugin check, run by `make check` from the repository root:
#   1. build toy.so from a copy of this directory outside the repository, with only
#      `pkg-config --cflags m2pt` of the staged install for include flags;
#   2. the staged m2pt's conformance suite passes on it (m2pt plugins --check);
#   3. the staged m2pt lists it when its directory is in M2PT_PLUGIN_PATH;
#   4. a tiny training run with --modality toy ends above chance;
#   5. m2pt eval of the saved checkpoint reproduces the merged test accuracy.
#
# Environment (set by `make check`):
#   M2PT_BUILD              build directory, relative to the repository root (default build)
#   M2PT_STAGE              absolute path of `make install DESTDIR=$M2PT_STAGE` (default $PWD/$M2PT_BUILD/stage)
#   M2PT_PREFIX_CONFIGURED  the PREFIX of that install (default /usr/local)
# Exits non-zero when any check fails; ends with "out_of_tree: N passed, M failed".

set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${M2PT_BUILD:-build}
stage=${M2PT_STAGE:-$PWD/$build/stage}
prefix=${M2PT_PREFIX_CONFIGURED:-/usr/local}
root=$stage$prefix
m2pt=$root/bin/m2pt
case $build in /*) out=$build/out_of_tree ;; *) out=$PWD/$build/out_of_tree ;; esac

pass=0
fail=0
ok() { echo "  ok    $*"; pass=$((pass + 1)); }
bad() { echo "  FAIL  $*"; fail=$((fail + 1)); }
show() { sed 's/^/        | /' "$1"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/m2pt_out_of_tree.XXXXXX") || { echo "out_of_tree: cannot make a temp dir" >&2; exit 1; }
trap 'rm -rf "$tmp"' EXIT
trap 'rm -rf "$tmp"; exit 130' INT TERM

if [ ! -x "$m2pt" ] || [ ! -f "$root/lib/pkgconfig/m2pt.pc" ]; then
    echo "out_of_tree: no staged install at $root (missing bin/m2pt or lib/pkgconfig/m2pt.pc);" >&2
    echo "out_of_tree: run it through 'make check', which stages one with 'make install DESTDIR=...'" >&2
    exit 1
fi

# Whatever the caller had set must not reach the plugin build or the runs: the build gets its
# include path from pkg-config only, and the staged m2pt searches $out, then its own tree. An
# empty M2PT_PREFIX keeps plugins installed on this machine (PREFIX/lib/m2pt/plugins) out of it.
unset MAKEFLAGS MFLAGS MAKELEVEL CPATH C_INCLUDE_PATH CFLAGS CPPFLAGS LDFLAGS M2PT_PLUGIN_PATH
mkdir -p "$tmp/noprefix"
M2PT_PREFIX=$tmp/noprefix
export M2PT_PREFIX

# --- 1. build outside the repository --------------------------------------------------------
echo "out_of_tree: 1. build toy.so from a copy in $tmp/src against the staged install ($root)"
mkdir -p "$tmp/src" "$out"
cp "$here/toy_modality.c" "$here/Makefile" "$tmp/src/"
rm -f "$out/toy.so"
if (cd "$tmp/src" && PKG_CONFIG_PATH=$root/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$stage make OUT="$out") \
    >"$tmp/build.log" 2>&1; then
    show "$tmp/build.log"
    if ! grep -q -- "-I$root/include" "$tmp/build.log"; then
        bad "build: the compile command lacks -I$root/include (pkg-config --cflags m2pt of the stage)"
    elif grep -q -- "harness/" "$tmp/build.log"; then
        bad "build: the compile command mentions harness/ (only the installed header may be used)"
    elif [ ! -f "$out/toy.so" ]; then
        bad "build: make succeeded but $out/toy.so is missing"
    else
        exports=""
        if command -v nm >/dev/null 2>&1; then
            exports=$(nm -D --defined-only "$out/toy.so" | awk '$2 == "T" || $2 == "D" || $2 == "B" { print $3 }')
        fi
        if [ -n "$exports" ] && [ "$exports" != "m2pt_plugin_query" ]; then
            bad "build: toy.so exports more than m2pt_plugin_query:" $exports
        else
            ok "built $out/toy.so with pkg-config --cflags m2pt only${exports:+ (exports: $exports)}"
        fi
    fi
else
    show "$tmp/build.log"
    bad "build: make in $tmp/src failed (see above)"
fi

if [ ! -f "$out/toy.so" ]; then
    for step in "2. conformance" "3. listing" "4. training" "5. eval"; do bad "$step: not run, toy.so was not built"; done
    echo "out_of_tree: $pass passed, $fail failed"
    exit 1
fi

# --- 2. conformance suite ------------------------------------------------------------------------
echo "out_of_tree: 2. $m2pt plugins --check $out/toy.so"
if "$m2pt" plugins --check "$out/toy.so" >"$tmp/check.log" 2>&1; then
    show "$tmp/check.log"
    ok "conformance suite passed"
else
    rc=$?
    show "$tmp/check.log"
    bad "conformance suite: exit $rc (see above)"
fi

# --- 3. discovery through M2PT_PLUGIN_PATH ------------------------------------------------------------
echo "out_of_tree: 3. M2PT_PLUGIN_PATH=$out $m2pt plugins"
if M2PT_PLUGIN_PATH=$out "$m2pt" plugins >"$tmp/list.log" 2>&1; then
    show "$tmp/list.log"
    # NAME KIND VERSION ABI MAE FILE: toy is built against this ABI (1.1) and supports MAE
    if grep -q "^toy  *modality  *1\.1\.0  *1\.1  *yes  *$out/toy\.so\$" "$tmp/list.log"; then
        ok "toy is listed as a modality plugin of ABI 1.1 with MAE support from $out/toy.so"
    else
        bad "listing: no line 'toy modality 1.1.0 1.1 yes $out/toy.so'"
    fi
else
    rc=$?
    show "$tmp/list.log"
    bad "listing: exit $rc (see above)"
fi

# --- 4. a tiny training run ------------------------------------------------------------------------
echo "out_of_tree: 4. M2PT_PLUGIN_PATH=$out $m2pt train --modality toy ..."
merged=""
if M2PT_PLUGIN_PATH=$out "$m2pt" train --modality toy --epochs 2 --dim 16 --depth 1 --heads 2 --mlp-ratio 2 \
    --batch 32 --threads 1 --out "$tmp/toy.ckpt" >"$tmp/train.log" 2>&1; then
    show "$tmp/train.log"
    merged=$(sed -n 's/^test accuracy: [0-9.]*% with the pathway, \([0-9.]*\)% merged.*/\1/p' "$tmp/train.log")
    if [ -z "$merged" ]; then
        bad "training: no 'test accuracy: X% with the pathway, Y% merged' line"
    elif [ ! -f "$tmp/toy.ckpt" ]; then
        bad "training: exit 0 but no checkpoint $tmp/toy.ckpt"
    elif awk -v a="$merged" 'BEGIN { exit !(a > 60) }'; then
        ok "trained: merged test accuracy $merged% (chance 33.3%, required > 60%)"
    else
        bad "training: merged test accuracy $merged% is not above 60% (chance is 33.3%)"
    fi
else
    rc=$?
    show "$tmp/train.log"
    bad "training: exit $rc (see above)"
fi

# --- 5. eval of the saved model -----------------------------------------------------------------------
echo "out_of_tree: 5. M2PT_PLUGIN_PATH=$out $m2pt eval $tmp/toy.ckpt"
if [ -z "$merged" ] || [ ! -f "$tmp/toy.ckpt" ]; then
    bad "eval: not run, training gave no checkpoint and accuracy"
elif M2PT_PLUGIN_PATH=$out "$m2pt" eval "$tmp/toy.ckpt" >"$tmp/eval.log" 2>&1; then
    show "$tmp/eval.log"
    acc=$(sed -n 's/.* toy test accuracy \([0-9.]*\)% .*/\1/p' "$tmp/eval.log")
    if [ "$acc" = "$merged" ]; then
        ok "eval reproduces the merged test accuracy ($acc%)"
    else
        bad "eval: test accuracy '${acc:-none}%' differs from training's merged $merged%"
    fi
else
    rc=$?
    show "$tmp/eval.log"
    bad "eval: exit $rc (see above)"
fi

echo "out_of_tree: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
