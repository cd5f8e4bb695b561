#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What a variable of another file that travels with each call costs
# (docs/remote.md, "Variables of other files"): sequential calls of a tagged
# function whose service reads a table of another file, filled by main,
# against the same program with the table marked TURBOLIFT_STATIC (nothing
# sent), for tables of 8 B, 4 KiB, 64 KiB and 1 MiB. Both run alternately,
# ROUNDS times; the best round of each is compared. Nothing is asserted.
#
# usage: bench/globals-cost.sh BUILD_ROOT [ROUNDS] [CALLS]
set -u
build=$1 rounds=${2:-5} calls=${3:-2000}
here=$(cd "$(dirname "$0")" && pwd)/globals
export PKG_CONFIG_PATH=$build/meson-uninstalled
flags=$(pkg-config --cflags --libs turbolift) || { echo "pkg-config turbolift failed"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TURBOLIFT_OUTDIR=$work/out XDG_CACHE_HOME=$work/cache TURBOLIFT_ON_FAILURE=abort
export TURBOLIFT_REPLICAS=1

best() { sort -g | head -1; }
for n in 1 512 8192 131072; do
	for v in sent static; do
		d=; [ $v = static ] && d=-DKEEP_INITIAL
		gcc -std=gnu11 -O2 -DTABLE_N=$n $d "$here/main.c" "$here/lib.c" $flags \
			-o "$work/$v-$n" || exit 1
	done
	: >"$work/sent.t"; : >"$work/static.t"
	for r in $(seq "$rounds"); do
		for v in sent static; do
			"$work/$v-$n" "$calls" | awk '{print $1}' >>"$work/$v.t" || exit 1
		done
	done
	s=$(best <"$work/sent.t") k=$(best <"$work/static.t")
	printf 'table %7d B: %d calls sent %.3f s, static %.3f s, ratio %.2f (%.1f us per call more)\n' \
		$((n * 8)) "$calls" "$s" "$k" "$(echo "$s / $k" | bc -l)" \
		"$(echo "($s - $k) * 1000000 / $calls" | bc -l)"
done
