#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The libraries on the cluster (suite k8s; docs/libraries.md): Lua 5.4 (32
# files in a static archive), cJSON, zlib (the program's own -DFASTEST
# copy, which the pod's service must use too) and libmatheval (its bison
# parser and flex scanner), from Debian's source packages
# (tests/libraries/sources.sh), each built with make -j2 and every file
# compiled with the plugin, the user's main.c of tests/libraries; the
# function tagged "local" runs on the real local cluster through
# TURBOLIFT_TARGET=k8s. Checks: the run exits 0 with
# TURBOLIFT_ON_FAILURE=abort and prints exactly what the plain build prints;
# the calls were answered by the function's pod (`turbolift status` counts
# every call of the run, none failed, while the deployment is kept); the
# image's service holds the library code (nm on the binary the image was
# made of). Prints "figure:" lines (first call on the cluster).
#
#   k8s-libraries.sh BUILD_ROOT SOURCE_ROOT
#
# Exit 77 (skipped) outside CI when this machine cannot run the cluster or
# cannot fetch the sources.
set -uo pipefail

build=${1:?usage: k8s-libraries.sh BUILD_ROOT SOURCE_ROOT}
src=${2:?usage: k8s-libraries.sh BUILD_ROOT SOURCE_ROOT}
CLUSTER=$src/deploy/cluster
. "$CLUSTER/lib.sh"
export LC_ALL=C
. "$src/tests/lib.sh" k8s-libraries
here=$src/tests/libraries
. "$here/sources.sh"

reason=$(cluster_unavailable_reason)
[ -z "$reason" ] || skip_or_fail "$reason"
for tool in apt-get dpkg-source flock make ar nm; do
	command -v "$tool" >/dev/null 2>&1 || skip_or_fail "$tool is missing (docs/libraries.md)"
done

work=$(mktemp -d)
NS=turbolift-libraries-test-$$
CLI=$build/runtime/turbolift
cleanup() {
	forget_namespace "$CLI" "$NS"
	rm -rf "$work"
}
trap cleanup EXIT

cluster_up "$CLUSTER" "$work/up.log"	# KUBECONFIG, PATH, TURBOLIFT_REGISTRY(_PULL)
k8s_program_env "$work" "$build" "$NS"	# own cache and outdir, abort policy, config below
cat >"$TURBOLIFT_CONFIG" <<'EOF'
defaults:
  min_replicas: 1
  max_replicas: 1
  retries: 8
  backoff_ms: 100
  start_timeout_ms: 180000
  resources: { cpu: 100m, memory: 64Mi }
EOF
cflags=$(pkg-config --cflags turbolift) && libs=$(pkg-config --libs turbolift) ||
	{ fail "pkg-config turbolift"; finish; }

# library (our folder) -> Debian package, folder of its tree, tagged
# function, calls the program makes, a symbol its service must define
declare -A pkg_of=([lua]=lua5.4 [cjson]=cjson [zlib]=zlib [matheval]=libmatheval)
declare -A sub_of=([lua]=/src [cjson]= [zlib]= [matheval]=/lib)
declare -A fn_of=([lua]=run [cjson]=reformat [zlib]=squeeze [matheval]=evaluate)
declare -A calls_of=([lua]=5 [cjson]=5 [zlib]=9 [matheval]=7)
declare -A sym_of=([lua]=luaV_execute [cjson]=cJSONUtils_SortObject [zlib]=zlibCompileFlags [matheval]=yyparse)

for lib in lua cjson zlib matheval; do
	pkg=${pkg_of[$lib]} fn=${fn_of[$lib]}
	if lib_source "$pkg"; then
		pass "$lib: source of $pkg ${lib_versions[$pkg]}"
	else
		log "$source_error"; skip_or_fail "cannot fetch the source of $pkg"
	fi
	for kind in plain dist; do
		cf= ll=
		[ $kind = dist ] && cf=$cflags ll=$libs
		mkdir -p "$work/$lib-$kind"
		if ! nice make -s -j2 -C "$work/$lib-$kind" -f "$here/$lib/Makefile" SRC="$source${sub_of[$lib]}" \
				CFLAGS="-O2 -I$src/include $cf" LDLIBS="$ll" >"$work/$lib-$kind.build" 2>&1; then
			tail -20 "$work/$lib-$kind.build"; fail "$lib: $kind build (make -j2)"; continue 2
		fi
	done
	pass "$lib: plain build and build with the plugin (make -j2, the library in an archive)"
	"$work/$lib-plain/prog" >"$work/$lib.plain"

	t0=$SECONDS
	TURBOLIFT_TARGET=k8s TURBOLIFT_KEEP=1 TURBOLIFT_LOG=info \
		"$work/$lib-dist/prog" >"$work/$lib.k8s" 2>"$work/$lib.err"
	rc=$?
	check "$lib: run on the cluster exits 0 (TURBOLIFT_ON_FAILURE=abort)" test $rc -eq 0
	if cmp -s "$work/$lib.plain" "$work/$lib.k8s"; then
		pass "$lib: prints on the cluster what the plain build prints ($(wc -l <"$work/$lib.plain") lines)"
	else
		fail "$lib: output on the cluster"; diff "$work/$lib.plain" "$work/$lib.k8s" | head; tail -20 "$work/$lib.err"
	fi
	if grep -q "^turbolift: $fn: ready at https\{0,1\}://" "$work/$lib.err" &&
	   grep -Eq "^turbolift: $fn: image [^ ]+ (pushed|is in the registry already)" "$work/$lib.err"; then
		pass "$lib: its image is in the cluster's registry and its deployment was ready"
	else
		tail -20 "$work/$lib.err"; fail "$lib: image and deployment progress lines"
	fi
	pushed=$(sed -n "s/^turbolift: $fn: image .* pushed (\(.*\))/pushed \1/p" "$work/$lib.err" | head -1)
	log "figure: $lib: run on the cluster, first call included: $((SECONDS - t0)) s" \
		"(image ${pushed:-in the registry already})"
	# Which process answered: the kept deployment's pod counted every call
	# of the run, and none failed (turbolift status reads the pods' metrics)
	"$CLI" status -n "$NS" >"$work/$lib.status" 2>&1
	read -r _ _ ready _ calls errors _ <<<"$(grep "^$fn " "$work/$lib.status")"
	if [ "${ready:-}" = 1/1 ] && [ "${calls:-}" = "${calls_of[$lib]}" ] && [ "${errors:-}" = 0 ]; then
		pass "$lib: the function's pod answered all ${calls_of[$lib]} calls of the run, none failed (turbolift status)"
	else
		cat "$work/$lib.status"; fail "$lib: answered by the pod (ready '${ready:-}', calls '${calls:-}', errors '${errors:-}')"
	fi
	svc=$(echo "$work"/cache/turbolift/bin/"$fn"-*/service)
	check "$lib: the service the image was made of defines ${sym_of[$lib]} (the library's code)" \
		bash -c "nm '$svc' | grep -q ' [Tt] ${sym_of[$lib]}\$'"
	"$CLI" down -n "$NS" >"$work/$lib.down" 2>&1 || { cat "$work/$lib.down"; fail "$lib: turbolift down"; }
done

# Lua from 4 threads at once on 2 pods: 48 calls in flight together
printf 'defaults:\n  min_replicas: 2\n  max_replicas: 2\n  start_timeout_ms: 180000\n  resources: { cpu: 100m, memory: 64Mi }\n' \
	>"$work/two.yaml"
if [ -x "$work/lua-dist/prog" ]; then
	"$work/lua-plain/prog" threads >"$work/lua-threads.plain"
	TURBOLIFT_CONFIG=$work/two.yaml TURBOLIFT_TARGET=k8s TURBOLIFT_KEEP=1 TURBOLIFT_LOG=info \
		"$work/lua-dist/prog" threads >"$work/lua-threads.k8s" 2>"$work/lua-threads.err"
	check "lua, 4 threads x 12 calls on 2 pods: exits 0 (abort policy)" test $? -eq 0
	check "... prints what the plain build prints" cmp -s "$work/lua-threads.plain" "$work/lua-threads.k8s"
	"$CLI" status -n "$NS" >"$work/lua-threads.status" 2>&1
	read -r _ _ ready _ calls errors _ <<<"$(grep "^run " "$work/lua-threads.status")"
	if [ "${ready:-}" = 2/2 ] && [ "${calls:-}" = 48 ] && [ "${errors:-}" = 0 ]; then
		pass "... the 2 pods answered all 48 calls, none failed (turbolift status)"
	else
		cat "$work/lua-threads.status"; tail -5 "$work/lua-threads.err"
		fail "lua threads: answered by the pods (ready '${ready:-}', calls '${calls:-}', errors '${errors:-}')"
	fi
	"$CLI" down -n "$NS" >/dev/null 2>&1 || fail "lua threads: turbolift down"
fi

# zlib's archive built without the plugin (a third-party library), added
# with TURBOLIFT_LINK (docs/multifile.md): the image's service holds it too
z=$work/zlib-link
if [ -f "$work/zlib-dist/main.o" ] && [ -f "$work/zlib-plain/libz.a" ] &&
   gcc -o "$z" "$work/zlib-dist/main.o" "$work/zlib-plain/libz.a" $libs 2>"$z.build"; then
	TURBOLIFT_TARGET=k8s TURBOLIFT_LINK=$work/zlib-plain/libz.a TURBOLIFT_LOG=info "$z" >"$z.k8s" 2>"$z.err"
	check "zlib archive without the plugin + TURBOLIFT_LINK: runs on the cluster (abort policy)" test $? -eq 0
	if cmp -s "$work/zlib.plain" "$z.k8s"; then
		pass "... and prints the program's own zlib output (not the system's)"
	else
		fail "... output on the cluster"; diff "$work/zlib.plain" "$z.k8s" | head -4; tail -10 "$z.err"
	fi
else
	cat "$z.build" 2>/dev/null; fail "zlib: main.o with the plugin and the plain libz.a"
fi
finish
