#!/bin/sh
# Runs the Windows build under Wine: the CUnit unit tests, then the same
# black-box integration suite as on POSIX, in Wine mode.
#
#     sh tests/wine/run.sh [BUILD_DIR [NAME_FILTER...]]   (default build-win)
#
# NAME_FILTERs are passed to the runner (tests/integration/run.py); without
# any, the suite runs a second time with processes = 2 (two loops).
#
# Uses a private prefix BUILD_DIR/wineprefix (created on first use) and one
# persistent wineserver for the whole run, killed on exit.  The output ends
# with the integration runner's "integration: N passed, N failed" line.
# Exit status 0 only if the unit tests and every applicable scenario pass.

set -u
here=$(cd "$(dirname "$0")" && pwd)
arg=${1:-build-win}
[ $# -gt 0 ] && shift
build=$(cd "$arg" 2>/dev/null && pwd) || {
    echo "run.sh: no build directory $arg" >&2; exit 2; }
exe="$build/pumpkinlb.exe"
unit="$build/unit-tests.exe"
for f in "$exe" "$unit"; do
    [ -f "$f" ] || { echo "run.sh: missing $f (run 'make windows')" >&2; exit 2; }
done
command -v wine >/dev/null 2>&1 || { echo "run.sh: wine not installed" >&2; exit 2; }

WINEPREFIX="$build/wineprefix"
WINEDEBUG=-all
WINEDLLOVERRIDES="mscoree,mshtml="
export WINEPREFIX WINEDEBUG WINEDLLOVERRIDES

if [ ! -f "$WINEPREFIX/system.reg" ]; then
    echo "== creating Wine prefix $WINEPREFIX"
    wineboot -i </dev/null >/dev/null 2>&1
    wineserver -w
    [ -f "$WINEPREFIX/system.reg" ] || {
        echo "run.sh: wineboot -i did not create $WINEPREFIX" >&2; exit 1; }
fi

trap 'wineserver -k >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM HUP
wineserver -p 900 </dev/null >/dev/null 2>&1
wine cmd /c exit </dev/null >/dev/null 2>&1

echo "== unit tests: wine $unit"
wine "$unit" </dev/null
unit_rc=$?
if [ "$unit_rc" -ne 0 ]; then
    echo "unit tests FAILED under Wine (exit status $unit_rc)"
fi

echo "== build descriptions (CMake, Visual Studio, Makefile) agree"
python3 "$here/check_build_files.py"
files_rc=$?

# The MSI scenarios install these (an upgrade needs a newer one, a
# same-version upgrade the same version built again).
LBTEST_MSI=$(ls "$build"/PumpkinLB-*-x64.msi 2>/dev/null | head -n 1)
LBTEST_MSI_UPGRADE=$(ls "$build"/upgrade-test/PumpkinLB-*-x64.msi 2>/dev/null | head -n 1)
LBTEST_MSI_SAME=$(ls "$build"/upgrade-test/same/PumpkinLB-*-x64.msi 2>/dev/null | head -n 1)
export LBTEST_MSI LBTEST_MSI_UPGRADE LBTEST_MSI_SAME

echo "== integration suite under Wine: $exe"
python3 "$here/../integration/run.py" --wine "$exe" "$@"
int_rc=$?

# The whole suite again with two loops in the one process (processes = 2
# in every config a scenario writes), when no filter narrowed the run.
# Left out: the installer's scenarios, which test installing and
# upgrading, not serving, and take a third of the suite's time.
loops_rc=0
if [ $# -eq 0 ]; then
    echo "== integration suite under Wine again, processes = 2: $exe"
    python3 "$here/../integration/run.py" --wine --processes 2 \
        --exclude test_msi_ --exclude test_install_and_uninstall "$exe"
    loops_rc=$?
fi

[ "$unit_rc" -eq 0 ] && [ "$files_rc" -eq 0 ] && [ "$int_rc" -eq 0 ] &&
    [ "$loops_rc" -eq 0 ]
