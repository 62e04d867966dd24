#!/bin/sh
# deps.sh OUTDIR - builds inih and CUnit for the mingw-w64 cross build from
# Debian's source packages (Debian ships no Windows builds of them; no
# third-party source is kept in this repository). Leaves OUTDIR/include
# and OUTDIR/lib/{libinih.a,libcunit.a}.
set -eu
[ $# -eq 1 ] || { echo "usage: deps.sh OUTDIR" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
cc=${WIN_CC:-x86_64-w64-mingw32-gcc}
ar=${WIN_AR:-x86_64-w64-mingw32-ar}
[ -f "$out/lib/libinih.a" ] && [ -f "$out/lib/libcunit.a" ] && exit 0
mkdir -p "$out/src" "$out/include/CUnit" "$out/lib" "$out/obj"
apt="$out/apt"
mkdir -p "$apt/parts" "$apt/lists/partial"
uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources \
      2>/dev/null || true)
[ -n "$uri" ] || uri=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
printf 'Types: deb-src\nURIs: %s\nSuites: trixie bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" >"$apt/parts/src.sources"
O="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$apt/parts -o Dir::State::Lists=$apt/lists"
# shellcheck disable=SC2086
apt-get $O update -qq
cd "$out/src"
# shellcheck disable=SC2086
apt-get $O source --download-only libinih=59-1 >/dev/null
# shellcheck disable=SC2086
apt-get $O source --download-only cunit >/dev/null
tar xzf libinih_59.orig.tar.gz
tar xzf cunit_*.orig.tar.gz

inih=$(find . -maxdepth 2 -name ini.c | head -n 1)
cp "$(dirname "$inih")/ini.h" "$out/include/"
$cc -O2 -w -c "$inih" -o "$out/obj/ini.o"
$ar rcs "$out/lib/libinih.a" "$out/obj/ini.o"

cu=$(find . -maxdepth 3 -type d -name CUnit -path '*CUnit*' | head -n 1)
cp "$cu"/Headers/*.h "$out/include/CUnit/"
[ -f "$out/include/CUnit/CUnit.h" ] || sed 's/@VERSION@-@RELEASE@/2.1-3/' \
    "$out/include/CUnit/CUnit.h.in" >"$out/include/CUnit/CUnit.h"
for f in Framework/CUError Framework/MyMem Framework/TestDB \
         Framework/TestRun Framework/Util Basic/Basic Automated/Automated \
         Console/Console; do
    $cc -O2 -w -I"$out/include" -I"$out/include/CUnit" -c "$cu/Sources/$f.c" \
        -o "$out/obj/$(basename $f).o"
done
$ar rcs "$out/lib/libcunit.a" "$out"/obj/CUError.o "$out"/obj/MyMem.o \
    "$out"/obj/TestDB.o "$out"/obj/TestRun.o "$out"/obj/Util.o \
    "$out"/obj/Basic.o "$out"/obj/Automated.o "$out"/obj/Console.o
echo "deps.sh: inih and CUnit built in $out"
