#!/usr/bin/env bash
# Builds the libzmq Parley links: Debian's libzmq 4.3.4 source package (the version Debian ships), Debian's own
# patches, then ours: io-error-guard.patch (a peer that resets a connection while its input is stopped can no longer
# abort the process) and queue-budgets.patch (a byte budget per connection queue besides the message count and one
# over all of a socket's connections, a limit on the subscriptions an XPUB takes from one connection, and no freed
# pipe left among XPUB_MANUAL's pending subscriptions); see deploy/OPERATIONS.md "libzmq". The result is a static
# library with CURVE (libsodium) in
#
#   <repo>/.deps/libzmq/{include,lib}   and   <repo>/.deps/libzmq/lib/pkgconfig/libzmq.pc
#
# which the Makefile puts first on PKG_CONFIG_PATH, so SwiftPM links it instead of the system's libzmq.
# Idempotent: does nothing when the installed build matches this script and the patches. Installs what it needs
# (curl, cmake, g++, libsodium-dev, pkg-config) with apt-get when missing. Takes about a minute on two cores.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
prefix="$repo/.deps/libzmq"
work="$repo/.deps/libzmq-build"
mirror="${PARLEY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
orig="zeromq3_4.3.4.orig.tar.gz"
orig_sha256="0ff5a531c9ffaf0dfdc7dc78d13d1383088f454896d252934c429b2554d10559"
debian="zeromq3_4.3.4-6.debian.tar.xz"
debian_sha256="fbb0dcb4ffbf483d416d9af722db74ad4edd7004625ce10381e8cd3a71b6cd58"

stamp="$(cat "${BASH_SOURCE[0]}" "$here/io-error-guard.patch" "$here/queue-budgets.patch" | sha256sum | cut -c1-16)"
if [ -f "$prefix/lib/libzmq.a" ] && [ "$(cat "$prefix/.stamp" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
command -v patch >/dev/null 2>&1 || missing+=(patch)
pkg-config --exists libsodium 2>/dev/null || missing+=(libsodium-dev)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} with apt-get (to build libzmq)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

echo "building libzmq 4.3.4 with Parley's io-error guard into $prefix"
rm -rf "$work" "$prefix"
mkdir -p "$work"
cd "$work"
fetch() { # file sha256
    curl -fsSL --retry 3 -o "$1" "$mirror/pool/main/z/zeromq3/$1"
    echo "$2  $1" | sha256sum -c --quiet - || { echo "build.sh: $1 does not match its checksum" >&2; exit 1; }
}
fetch "$orig" "$orig_sha256"
fetch "$debian" "$debian_sha256"
tar xzf "$orig"
cd libzmq-4.3.4
tar xJf "../$debian"
grep -v '^#' debian/patches/series | while read -r name; do
    [ -n "$name" ] && patch -p1 -s < "debian/patches/$name"
done
patch -p1 -s < "$here/io-error-guard.patch"
patch -p1 -s < "$here/queue-budgets.patch"

mkdir build && cd build
cmake .. -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
    -DBUILD_SHARED=OFF -DBUILD_STATIC=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DBUILD_TESTS=OFF -DWITH_PERF_TOOL=OFF -DWITH_DOCS=OFF -DWITH_DOC=OFF -DENABLE_CPACK=OFF \
    -DENABLE_DRAFTS=OFF -DWITH_LIBSODIUM=ON -DENABLE_CURVE=ON -DWITH_LIBBSD=OFF >cmake.log 2>&1 \
    || { tail -30 cmake.log; exit 1; }
make -j"$(nproc)" install >make.log 2>&1 || { tail -30 make.log; exit 1; }

# SwiftPM asks pkg-config without --static, so the libraries the static archive needs go on the Libs line.
rm -f "$prefix"/lib/pkgconfig/*.pc
cat > "$prefix/lib/pkgconfig/libzmq.pc" <<EOF
prefix=$prefix
Name: libzmq
Description: libzmq 4.3.4 (Debian 4.3.4-6) with Parley's io-error guard, static
Version: 4.3.4
Cflags: -I\${prefix}/include
Libs: -L\${prefix}/lib -lzmq -lsodium -lstdc++ -lpthread -lrt
EOF
echo "$stamp" > "$prefix/.stamp"
rm -rf "$work"
echo "libzmq with Parley's io-error guard installed in $prefix"
