#!/usr/bin/env python3
"""Checks that the three Windows build descriptions cannot drift:

- vs/*.vcxproj, vs/PumpkinLB.sln and installer/pumpkinlb.wxs are well-formed
  XML (the .sln is checked for its two projects), vs/vcpkg.json is JSON and
  names inih and cunit;
- the sources of vs/pumpkinlb.vcxproj and vs/unit-tests.vcxproj are exactly
  those CMake's Windows build compiles (read from the compile_commands.json
  of a real mingw configure), and the Makefile's Windows build agrees.

usage: check_build_files.py   (from the repository root; needs cmake and
mingw-w64). Ends with `build files: N passed, N failed`.
"""

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

MSB = "{http://schemas.microsoft.com/developer/msbuild/2003}"
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print("%s %s%s" % ("PASS" if ok else "FAIL", name,
                       "" if ok else ": " + detail))


def vcxproj_sources(path):
    root = ET.parse(path).getroot()
    out = set()
    for item in root.iter(MSB + "ClCompile"):
        inc = item.get("Include")
        if inc:
            out.add(os.path.normpath(os.path.join(
                "vs", inc.replace("\\", "/"))))
    return out


def cmake_sources():
    """{target: set of sources} from a mingw configure of CMakeLists.txt."""
    build = tempfile.mkdtemp(prefix="lbcmake-")
    deps = os.path.abspath("build-win/deps")
    subprocess.run(["cmake", "-S", ".", "-B", build,
                    "-DCMAKE_TOOLCHAIN_FILE=platform/win32/mingw-toolchain.cmake",
                    "-DLB_WIN_DEPS=" + deps,
                    "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"],
                   check=True, stdout=subprocess.DEVNULL)
    cmds = json.load(open(os.path.join(build, "compile_commands.json")))
    by_target = {}
    for c in cmds:
        out = c.get("output") or c["command"].split(" -o ")[1].split()[0]
        target = out.split("CMakeFiles/")[1].split(".dir/")[0]
        src = os.path.relpath(c["file"], os.getcwd())
        by_target.setdefault(target, set()).add(os.path.normpath(src))
    return by_target


def main():
    for path in ["vs/pumpkinlb.vcxproj", "vs/unit-tests.vcxproj",
                 "installer/pumpkinlb.wxs"]:
        try:
            ET.parse(path)
            check("%s is well-formed XML" % path, True)
        except ET.ParseError as e:
            check("%s is well-formed XML" % path, False, str(e))
    sln = open("vs/PumpkinLB.sln", encoding="utf-8-sig").read()
    check("PumpkinLB.sln lists both projects",
          '"pumpkinlb.vcxproj"' in sln and '"unit-tests.vcxproj"' in sln)
    deps = json.load(open("vs/vcpkg.json"))["dependencies"]
    check("vcpkg.json names inih and cunit",
          {"inih", "cunit"} <= set(deps), repr(deps))

    targets = cmake_sources()
    core = targets.get("lbcore", set())
    exe = core | targets.get("pumpkinlb", set())
    tests = core | targets.get("unit-tests", set())
    for proj, want in (("vs/pumpkinlb.vcxproj", exe),
                       ("vs/unit-tests.vcxproj", tests)):
        have = vcxproj_sources(proj)
        check("%s sources == CMake's Windows build" % proj, have == want,
              "only in vcxproj: %s; only in CMake: %s"
              % (sorted(have - want), sorted(want - have)))
    make = set(subprocess.run(["make", "-s", "print-win-srcs"], check=True,
                              stdout=subprocess.PIPE).stdout.decode().split())
    check("Makefile's Windows sources == CMake's", make == exe,
          "only in Makefile: %s; only in CMake: %s"
          % (sorted(make - exe), sorted(exe - make)))
    failed = results.count(False)
    print("build files: %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
