#!/usr/bin/env bash
# Functions the plugin does not touch keep their code generation:
#  - a TU without tags compiles to an identical object with and without the plugin,
#    but for the non-allocated section naming its unit (docs/multifile.md);
#  - with mode=off, a tagged TU compiles to the same object code as a plain build.
# usage: same-code.sh PLUGIN INCLUDE_DIR FIXTURE_DIR
. "$(dirname "$0")/lib.sh" "$@"
same() { # description, object a, object b
	if cmp -s "$2" "$3"; then pass "$1"; else fail "$1: $2 and $3 differ"; fi
}

for opt in -O0 -O2 "-O3 -fopenmp"; do
	tag=$(echo "$opt" | tr -d ' =-')
	gcc -std=gnu11 $opt -I"$include" -c "$fixtures/untagged.c" -o "$work/plain-$tag.o"
	gcc -std=gnu11 $opt -I"$include" -fplugin="$plugin" -c "$fixtures/untagged.c" -o "$work/plugin-$tag.o"
	objcopy -R turbolift_units "$work/plain-$tag.o" "$work/plain-$tag.cmp.o"
	objcopy -R turbolift_units "$work/plugin-$tag.o" "$work/plugin-$tag.cmp.o"
	same "untagged TU, $opt: plugin leaves the object identical" "$work/plain-$tag.cmp.o" "$work/plugin-$tag.cmp.o"

	gcc -std=gnu11 $opt -I"$include" -c "$fixtures/reach.c" -o "$work/tagged-plain-$tag.o"
	gcc -std=gnu11 $opt -I"$include" -fplugin="$plugin" -fplugin-arg-turbolift-mode=off \
		-c "$fixtures/reach.c" -o "$work/tagged-off-$tag.o"
	same "tagged TU, $opt: mode=off equals the plain build" "$work/tagged-plain-$tag.o" "$work/tagged-off-$tag.o"
done
if ls "$work"/out/*/service.yaml >/dev/null 2>&1; then
	fail "no service folder may be written without distributed tags"
else
	pass "no service folder written"
fi
finish
