# SPDX-License-Identifier: MIT
# scripts/lib.sh - shared by scripts/run, scripts/test and scripts/bench:
# install what is missing from Debian's packages (quietly, only when
# something is missing) and build with meson into a given directory.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

BUILD_PACKAGES=(meson ninja-build pkg-config gcc libc6-dev
	libmicrohttpd-dev libjansson-dev liblua5.4-dev libyaml-dev libsqlite3-dev
	libcurl4-openssl-dev libssl-dev libmosquitto-dev libzmq3-dev check)
TEST_PACKAGES=(python3 curl awscli mosquitto mosquitto-clients lua5.4 python3-zmq python3-prometheus-client prometheus)

# ensure_packages PKG... : apt-get install the ones dpkg does not know as installed.
ensure_packages() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing: ${missing[*]}"
	local sudo=
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >/dev/null
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build DIR [meson options...] : configure once, then ninja.
build() {
	local dir=$1
	shift
	if [ ! -f "$ROOT/$dir/build.ninja" ]; then
		meson setup "$ROOT/$dir" "$ROOT" "$@" >/dev/null || return 1
	fi
	ninja -C "$ROOT/$dir" >/dev/null || ninja -C "$ROOT/$dir"
}
