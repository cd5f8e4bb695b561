#!/usr/bin/env bash
# Every supported type compiles, and each tagged function's manifest carries
# the signature written beside it in fixtures/types.c.
# usage: signatures.sh PLUGIN INCLUDE_DIR FIXTURE_DIR
. "$(dirname "$0")/lib.sh" "$@"

if ! gcc -std=gnu11 -O2 -c -fplugin="$plugin" -I"$include" "$fixtures/types.c" -o "$work/types.o" 2>"$work/err" || [ -s "$work/err" ]; then
    echo "FAIL types.c does not compile cleanly with the plugin:"; cat "$work/err"
    echo "0 passed, 1 failed"; exit 1
fi
while IFS= read -r line; do
    fn=$(echo "$line" | sed -E 's/^TURBOLIFT\("[a-z0-9]+"\) [^(]*[ *]([a-z_0-9]+)\(.*/\1/')
    want=$(echo "$line" | sed -E 's/.*signature: (.*) \*\/$/\1/')
    manifest=$(echo "$work"/out/"$fn"-*/service.yaml)
    got=$(sed -n 's/^signature: "\(.*\)"$/\1/p' "$manifest" 2>/dev/null)
    if [ "$got" = "$want" ]; then pass "$fn $got"
    else fail "$fn: want $want, got ${got:-no manifest}"; fi
done < <(grep '^TURBOLIFT(.*signature:' "$fixtures/types.c")
finish
