#!/bin/sh
# SPDX-License-Identifier: MIT
# run-fuzz.sh TARGET SEEDS CORPUS - a bounded libFuzzer run of TARGET for
# FUZZ_SECONDS (default 60), starting from the committed SEEDS and the
# CORPUS kept in the build tree from earlier runs. Any crash, sanitizer
# report, leak or timeout makes libFuzzer exit non-zero, and so the test.
set -eu
target=$1 seeds=$2 corpus=$3
mkdir -p "$corpus"
# libFuzzer exits 77 on a finding by default, which meson reads as "skipped".
exec "$target" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=2048 \
    -error_exitcode=1 -timeout_exitcode=1 \
    -print_final_stats=1 -artifact_prefix="$corpus/../" "$corpus" "$seeds"
