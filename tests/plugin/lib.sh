# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The plugin suite's arguments on top of tests/lib.sh.
# usage (sourced): . lib.sh PLUGIN INCLUDE_DIR [FIXTURE_DIR]
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh" plugin
plugin=$1 include=$2 fixtures=${3:-}
make_work
export TURBOLIFT_OUTDIR=$work/out
