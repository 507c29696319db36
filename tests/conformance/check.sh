#!/bin/sh
# Runs the conformance suite (m2pt plugins --check) on every in-tree plugin.
# Run by `make check` with M2PT_BUILD set to the build directory. tests/conformance/NAME.opts,
# when present, holds `--set key=value` arguments for that plugin (small data sets, so that
# generated modalities stay fast on a fresh machine with an empty cache).
build=${M2PT_BUILD:-build}
pass=0 fail=0
for so in "$build"/plugins/*.so; do
    [ -e "$so" ] || { echo "conformance: no plugins in $build/plugins"; exit 1; }
    name=$(basename "$so" .so)
    opts=$(cat "$(dirname "$0")/$name.opts" 2>/dev/null)
    # shellcheck disable=SC2086 # opts is a list of arguments
    if "$build/m2pt" plugins --check "$so" $opts > "$build/conformance-$name.log" 2>&1; then
        pass=$((pass + 1)); echo "conformance: $(basename "$so") passed"
    else
        fail=$((fail + 1)); echo "conformance: $(basename "$so") FAILED:"; cat "$build/conformance-$(basename "$so" .so).log"
    fi
done
echo "conformance: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
