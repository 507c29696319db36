#!/bin/sh
# Runs the conformance suite (m2pt plugins --check) on every in-tree plugin.
# Run by `make check` with M2PT_BUILD set to the build directory.
build=${M2PT_BUILD:-build}
pass=0 fail=0
for so in "$build"/plugins/*.so; do
    [ -e "$so" ] || { echo "conformance: no plugins in $build/plugins"; exit 1; }
    if "$build/m2pt" plugins --check "$so" > "$build/conformance-$(basename "$so" .so).log" 2>&1; then
        pass=$((pass + 1)); echo "conformance: $(basename "$so") passed"
    else
        fail=$((fail + 1)); echo "conformance: $(basename "$so") FAILED:"; cat "$build/conformance-$(basename "$so" .so).log"
    fi
done
echo "conformance: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
