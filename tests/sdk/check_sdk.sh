#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_sdk.sh - the installed plugin SDK, as a third party uses it.
#
# Installs this build into a scratch DESTDIR, then, with nothing but the
# installed headers and spur.pc:
#   1. every header of router/include/spur/ is installed, and spur.pc is;
#   2. pkg-config --cflags points into the install, --libs is empty,
#      --modversion is the project's version and --variable=plugindir is
#      the plugin directory spur searches (where meson put this build's
#      plugins);
#   3. each header compiles alone with -std=c11 -pedantic, and together they
#      need no header but libc's and the compiler's;
#   4. hello_plugin.c builds with exactly
#        cc $(pkg-config --cflags spur) -shared -fPIC -Wall -Werror
#      (and with -std=c11 -Wall -Wextra -Werror -pedantic);
#   5. this build's spur loads it: `spur plugins` lists it, with its
#      options, only when SPUR_PLUGIN_PATH names its directory.
#
# Usage: check_sdk.sh HELLO_PLUGIN_C. meson (tests/sdk/meson.build) sets:
#   SPUR              the spur executable of this build
#   SPUR_BUILD_ROOT   the build directory to install from
#   SPUR_SDK_SRC      router/include/spur in the source tree
#   SPUR_INCLUDEDIR, SPUR_LIBDIR, SPUR_PLUGIN_DIR, SPUR_VERSION
#                     the configured absolute paths and the project version
# SPUR_SDK_KEEP=1 keeps the scratch directory for a look.
set -uo pipefail

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() { echo "ok: $*"; }

[ $# -eq 1 ] || fail "usage: $0 HELLO_PLUGIN_C"
src=$1
for v in SPUR SPUR_BUILD_ROOT SPUR_SDK_SRC SPUR_INCLUDEDIR SPUR_LIBDIR SPUR_PLUGIN_DIR SPUR_VERSION; do
	[ -n "${!v:-}" ] || fail "$v is not set (run me through meson test)"
done
[ -r "$src" ] || fail "$src: not readable"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spur-sdk-XXXXXX") || fail "mktemp"
if [ -n "${SPUR_SDK_KEEP:-}" ]; then
	trap 'echo "kept $tmp"' EXIT
else
	trap 'rm -rf "$tmp"' EXIT
fi

# --- 1. meson install, and what it put there ---------------------------------
if ! meson install --no-rebuild -C "$SPUR_BUILD_ROOT" --destdir "$tmp/root" >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	fail "meson install --destdir $tmp/root failed (log above)"
fi
ok "meson install --destdir $tmp/root"

inc=$tmp/root$SPUR_INCLUDEDIR
pcdir=$tmp/root$SPUR_LIBDIR/pkgconfig
[ -f "$pcdir/spur.pc" ] || fail "no spur.pc in $pcdir (meson install put: $(cd "$tmp/root" && find . -name '*.pc'))"
ok "spur.pc installed in $SPUR_LIBDIR/pkgconfig"

n=0
for h in "$SPUR_SDK_SRC"/*.h; do
	name=${h##*/}
	[ -f "$inc/spur/$name" ] || fail "router/include/spur/$name is not installed in $SPUR_INCLUDEDIR/spur/ (add it to install_headers in router/meson.build)"
	cmp -s "$h" "$inc/spur/$name" || fail "installed spur/$name differs from router/include/spur/$name"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || fail "no header in $SPUR_SDK_SRC"
ok "all $n headers of router/include/spur/ installed in $SPUR_INCLUDEDIR/spur/"

# --- 2. what pkg-config says ------------------------------------------------
# With DESTDIR the .pc file names the real prefix; the sysroot maps it
# into the scratch tree, as for any staged install.
pc() { PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$tmp/root pkg-config "$@"; }

cflags=$(pc --cflags spur) || fail "pkg-config --cflags spur failed"
read -r -a words <<<"$cflags"
if [ "${#words[@]}" -ne 1 ] || [ "${words[0]}" != "-I$inc" ]; then
	fail "pkg-config --cflags spur says '$cflags', want exactly '-I$inc'"
fi
ok "pkg-config --cflags spur: $cflags"

libs=$(pc --libs spur) || fail "pkg-config --libs spur failed"
[ -z "${libs// /}" ] || fail "pkg-config --libs spur says '$libs': plugins link nothing, want it empty"
ok "pkg-config --libs spur is empty"

ver=$(pc --modversion spur) || fail "pkg-config --modversion spur failed"
[ "$ver" = "$SPUR_VERSION" ] || fail "pkg-config --modversion spur says '$ver', the project is $SPUR_VERSION"
ok "pkg-config --modversion spur: $ver"

# As an installed system sees it (no sysroot): the directory spur searches.
pdir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=plugindir spur) || fail "pkg-config --variable=plugindir spur failed"
[ "$pdir" = "$SPUR_PLUGIN_DIR" ] ||
	fail "pkg-config --variable=plugindir spur says '$pdir', spur searches '$SPUR_PLUGIN_DIR'"
ok "pkg-config --variable=plugindir spur: $pdir"
# ... and it is where meson installed this build's own plugins.
m=0
for so in "$SPUR_BUILD_ROOT"/plugins/*/*.so; do
	[ -f "$so" ] || continue
	name=${so##*/}
	[ "${so%/*}" = "$SPUR_BUILD_ROOT/plugins/${name%.so}" ] || continue	# the loader's dir/<p>/<p>.so
	[ -f "$tmp/root$pdir/$name" ] || fail "this build's plugin $name is not in plugindir $pdir after meson install"
	m=$((m + 1))
done
ok "this build's $m plugins are installed in plugindir"

# --- 3. the headers alone ------------------------------------------------------
strict=(-std=c11 -Wall -Wextra -Werror -pedantic)
for h in "$inc"/spur/*.h; do
	name=${h##*/}
	printf '#include "spur/%s"\n' "$name" >"$tmp/only_$name.c"
	cc "${words[@]}" "${strict[@]}" -fsyntax-only "$tmp/only_$name.c" 2>"$tmp/only.err" || {
		cat "$tmp/only.err" >&2
		fail "spur/$name does not compile alone with ${strict[*]} (errors above)"
	}
done
ok "each installed header compiles alone with ${strict[*]}"

# Every file the headers pull in is either an installed SDK header or one
# of libc's or the compiler's (on Debian: owned by libc6-dev, libgcc-*-dev).
all=$tmp/all_headers.c
: >"$all"
for h in "$inc"/spur/*.h; do
	printf '#include "spur/%s"\n' "${h##*/}" >>"$all"
done
cc "${words[@]}" -std=c11 -M -MT deps -MF "$tmp/deps.mk" "$all" || fail "cc -M on the installed headers failed"
deps=$(sed -e 's/\\$//' -e 's/^deps://' "$tmp/deps.mk" | tr ' ' '\n' | grep -v '^$' | grep -vxF "$all")
sdk_deps=0
while read -r f; do
	case $f in
	"$inc"/spur/*) sdk_deps=$((sdk_deps + 1)); continue ;;
	*/spur/*) fail "$f: an SDK header comes from outside the install (is it missing from install_headers?)" ;;
	esac
	if command -v dpkg >/dev/null 2>&1; then
		owner=$(dpkg -S "$(realpath "$f")" 2>/dev/null | head -n1 | cut -d: -f1)
		case $owner in
		libc6-dev | libc6-dev-* | libgcc-*-dev | gcc-* | linux-libc-dev) ;;
		*) fail "the SDK headers include $f (package '${owner:-none}'), not a libc or compiler header" ;;
		esac
	fi
done <<<"$deps"
[ "$sdk_deps" -ge "$n" ] || fail "cc -M saw $sdk_deps SDK headers from the install, want $n"
ok "the SDK headers need nothing but libc's and the compiler's headers"

# --- 4. the example, built out of tree -----------------------------------------
# The command a third party types, word splitting and all.
# shellcheck disable=SC2046
cc $(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$tmp/root pkg-config --cflags spur) -shared -fPIC -Wall -Werror -o "$tmp/hello.so" "$src" ||
	fail "cc \$(pkg-config --cflags spur) -shared -fPIC -Wall -Werror hello_plugin.c failed"
[ -f "$tmp/hello.so" ] || fail "cc made no $tmp/hello.so"
ok "cc \$(pkg-config --cflags spur) -shared -fPIC -Wall -Werror -o hello.so hello_plugin.c"

mkdir -p "$tmp/pedantic"
cc "${words[@]}" "${strict[@]}" -shared -fPIC -o "$tmp/pedantic/hello.so" "$src" ||
	fail "hello_plugin.c does not build with ${strict[*]} (errors above)"
ok "hello_plugin.c builds with ${strict[*]}"

# --- 5. spur loads it --------------------------------------------------------------
[ -x "$SPUR" ] || fail "$SPUR: not an executable"
# Without the path, no `hello` (so the line below comes from our module).
out=$(env -u SPUR_PLUGIN_PATH "$SPUR" plugins 2>"$tmp/plugins.err") || {
	cat "$tmp/plugins.err" >&2
	fail "spur plugins (without SPUR_PLUGIN_PATH) failed"
}
! grep -q '^hello ' <<<"$out" || fail "spur plugins lists a 'hello' plugin before we built one: $(grep '^hello ' <<<"$out")"

out=$(SPUR_PLUGIN_PATH=$tmp "$SPUR" plugins 2>"$tmp/plugins.err") || {
	cat "$tmp/plugins.err" >&2
	fail "SPUR_PLUGIN_PATH=$tmp spur plugins failed (its errors above)"
}
line=$(grep '^hello ' <<<"$out") || {
	echo "$out" >&2
	fail "SPUR_PLUGIN_PATH=$tmp spur plugins does not list 'hello' (its output above)"
}
# the ABI it was built for: the installed common.h's
abi=$(awk '/#define SPUR_ABI_MAJOR/ { ma = $3 } /#define SPUR_ABI_MINOR/ { mi = $3 } END { print ma "." mi }' \
	"$inc/spur/common.h")
case $line in
*"ABI $abi"*"roles: destination"*"$tmp/hello.so") ;;
*) fail "spur plugins lists hello as '$line', want ABI $abi, roles: destination, from $tmp/hello.so" ;;
esac
grep -q '^ *hello\.max_record (size, default 64KiB): larger records are dropped$' <<<"$out" || {
	echo "$out" >&2
	fail "spur plugins does not show hello's option table (hello.max_record ...)"
}
ok "spur plugins: $line"
