# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# tests/libraries/sources.sh - the sources of real C libraries, from
# Debian's source packages, fetched at test time into a cache outside the
# clone (third-party code is never committed; docs/libraries.md).
#
#   . tests/libraries/sources.sh
#   lib_source PKG            $source := the unpacked tree of PKG at its
#                             pinned version (fetched once, then cached);
#                             1 with the reason in $source_error otherwise
#   sources_cache             the cache's root (set when sourced):
#                             $TURBOLIFT_SOURCES_CACHE, else
#                             /var/cache/turbolift-sources when writable,
#                             else ${XDG_CACHE_HOME:-~/.cache}/turbolift-sources
#
# The cache holds <pkg>_<version>/tree (version without its epoch, as
# Debian names its files) and is complete when <pkg>_<version>/.complete
# exists: a folder appears by rename, under a lock (flock) that concurrent
# runs share, so they fetch once and never see half a tree. apt reads a
# private sources list (the system's, as deb-src) and keeps its package
# lists in the cache: the system's apt configuration is not touched.
# A fetch runs only when a pinned version is not in the cache yet.
# Needs apt-get and dpkg-source (package dpkg-dev).

# The pinned versions: what Debian 12 (bookworm) serves. When Debian
# replaces one (a security update removes the older revision from the
# archive), the fetch fails and names the versions it has: pin the new one.
declare -A lib_versions=(
	[libmatheval]=1.1.11+dfsg-5
	[cjson]=1.7.15-1+deb12u4
	[zlib]=1:1.2.13.dfsg-1
	[lua5.4]=5.4.4-3+deb12u1
)

if [ -n "${TURBOLIFT_SOURCES_CACHE:-}" ]; then
	sources_cache=$TURBOLIFT_SOURCES_CACHE
elif mkdir -p /var/cache/turbolift-sources 2>/dev/null && [ -w /var/cache/turbolift-sources ]; then
	sources_cache=/var/cache/turbolift-sources
else
	sources_cache=${XDG_CACHE_HOME:-$HOME/.cache}/turbolift-sources
fi

# lib_source_fetch PKG VERSION DIR: download and unpack into DIR (absent);
# run under the lock
lib_source_fetch() {
	local pkg=$1 ver=$2 dir=$3 apt=$sources_cache/apt tmp unpacked
	local -a opts
	# under the lock, a temporary folder is what a killed fetch left
	rm -rf "$sources_cache"/.fetch-*
	mkdir -p "$apt/parts" "$apt/lists/partial" || return 1
	# the machine's own mirrors, as deb-src: Debian 12's deb822 file, or
	# the one-line format of older images
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$apt/parts/src.sources"
	elif grep -q '^deb ' /etc/apt/sources.list 2>/dev/null; then
		sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >"$apt/parts/src.list"
	else
		echo "no apt sources: neither /etc/apt/sources.list.d/debian.sources nor deb lines in /etc/apt/sources.list"
		false
	fi || return 1
	opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt/parts"
		-o Dir::State::Lists="$apt/lists" -o APT::Sandbox::User=root)
	# the lists are refreshed once per new package version, not per run
	apt-get "${opts[@]}" -q update >"$apt/update.log" 2>&1 || { tail -5 "$apt/update.log"; return 1; }
	tmp=$(mktemp -d "$sources_cache/.fetch-$pkg.XXXXXX") || return 1
	if ! (cd "$tmp" && apt-get "${opts[@]}" -q source "$pkg=$ver") >"$tmp.log" 2>&1; then
		tail -5 "$tmp.log"
		echo "versions of $pkg that apt knows:" \
			"$(apt-cache "${opts[@]}" showsrc "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -u | tr '\n' ' ')"
		rm -rf "$tmp" "$tmp.log"
		return 1
	fi
	unpacked=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d)
	[ -n "$unpacked" ] && [ "$(wc -l <<<"$unpacked")" = 1 ] ||
		{ echo "apt-get source $pkg=$ver unpacked no single folder"; rm -rf "$tmp" "$tmp.log"; return 1; }
	chmod 755 "$tmp" && mv "$unpacked" "$tmp/tree" && mv "$tmp.log" "$tmp/fetch.log" &&
		printf 'package %s\nversion %s\nfetched %s\n' "$pkg" "$ver" "$(date -u +%FT%TZ)" >"$tmp/.complete" &&
		rm -rf "$dir" && mv "$tmp" "$dir"
}

lib_source() {
	local pkg=$1 ver=${lib_versions[$1]:-} dir out
	source= source_error=
	[ -n "$ver" ] || { source_error="no pinned version for $pkg"; return 1; }
	dir=$sources_cache/${pkg}_${ver#*:}
	if [ ! -f "$dir/.complete" ]; then
		mkdir -p "$sources_cache" || { source_error="cannot create $sources_cache"; return 1; }
		out=$( (
			flock -w 900 9 || { echo "no lock on $sources_cache/.lock in 900 s"; exit 1; }
			[ -f "$dir/.complete" ] || lib_source_fetch "$pkg" "$ver" "$dir"
		) 9>"$sources_cache/.lock" 2>&1) || { source_error="apt-get source $pkg=$ver: $out"; return 1; }
	fi
	source=$dir/tree
}
