#!/bin/sh
# Runs the conformance suite (m2pt plugins --check) on every in-tree plugin; the modalities must
# also pass its ABI 1.1 reconstruction checks (recon_spec / recon_target).
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
    log=$build/conformance-$name.log
    if "$build/m2pt" plugins --check "$so" $opts > "$log" 2>&1; then
        # every in-tree modality implements ABI 1.1's reconstruction members: their checks must have run
        if grep -q "modality plugin" "$log" && ! grep -q "^  ok    reconstruction spec:" "$log"; then
            fail=$((fail + 1)); echo "conformance: $(basename "$so") FAILED: no reconstruction (MAE) checks ran:"; cat "$log"
            continue
        fi
        pass=$((pass + 1)); echo "conformance: $(basename "$so") passed"
    else
        fail=$((fail + 1)); echo "conformance: $(basename "$so") FAILED:"; cat "$build/conformance-$(basename "$so" .so).log"
    fi
done
echo "conformance: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
