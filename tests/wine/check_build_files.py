#!/usr/bin/env python3
"""Checks that the build descriptions cannot drift from what make builds:

- vs/*.vcxproj, vs/PumpkinLB.sln and installer/pumpkinlb.wxs are well-formed
  XML (the .sln is checked for its two projects), vs/vcpkg.json is JSON and
  names inih and cunit;
- the sources of vs/pumpkinlb.vcxproj and vs/unit-tests.vcxproj are exactly
  those make compiles for Windows (`make print-win-srcs`,
  `print-win-unit-srcs`), their headers exactly the headers of the layers
  they compile, and each source gets its layer's include path (the core
  include/ and src/; platform/win32 and platform/common include/, their own
  folder and platform/common; tests all of them), as the Makefile gives;
- every resource make links into pumpkinlb.exe (`make print-win-res`) is
  compiled by the vcxproj (a message table by a CustomBuild of mc.exe and
  its .rc, an .rc by ResourceCompile) and by CMakeLists.txt;
- the Visual Studio settings a shipped exe needs: the static C runtime
  (MultiThreaded, MultiThreadedDebug) and vcpkg's x64-windows-static
  triplet, output folders that do not depend on $(SolutionDir), no quoted
  "$(IntDir)" (its trailing backslash escapes the quote), no linker
  manifest beside pumpkinlb.rc's, CRLF line ends, a vcpkg builtin-baseline
  that is a commit id; CMake's MSVC runtime is the static one too; the
  numbers in include/lb_version.h spell LB_VERSION;
- unless --no-cmake: the sources CMake's Windows build compiles (read from
  the compile_commands.json of a real mingw configure, which needs cmake
  and mingw-w64) are make's too, and its generated build compiles each
  resource.

usage: check_build_files.py [--no-cmake] [--write]   (from the repository
root). --no-cmake needs neither cmake nor a cross compiler, only make: `make
test` runs it so. --write rewrites the vcxproj item lists from make's
instead of checking them (then run it again to check). Ends with
`build files: N passed, N failed`.
"""

import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

MSB = "{http://schemas.microsoft.com/developer/msbuild/2003}"
results = []

# The include path each layer compiles with (see CORE_INC in the Makefile).
CORE_INC = r"..\include;..\src;%(AdditionalIncludeDirectories)"
PLATFORM_INC = r"..\include;..\platform\win32;..\platform\common"
TEST_INC = (r"..\include;..\src;..\platform\win32;..\platform\common;"
            r"%(AdditionalIncludeDirectories)")


def check(name, ok, detail=""):
    results.append(ok)
    print("%s %s%s" % ("PASS" if ok else "FAIL", name,
                       "" if ok else ": " + detail))


def make_list(target):
    out = subprocess.run(["make", "-s", "--no-print-directory", target],
                         check=True, stdout=subprocess.PIPE).stdout
    return sorted(set(out.decode().split()))


def layer_inc(src):
    if src.startswith("platform/"):
        return PLATFORM_INC
    if src.startswith("tests/"):
        return TEST_INC
    return None  # the project's default: the core's


def headers_for(srcs):
    dirs = sorted({os.path.dirname(s) for s in srcs} | {"include"})
    return sorted(h for d in dirs for h in glob.glob(d + "/*.h"))


def win(path):
    return "..\\" + path.replace("/", "\\")


def vcxproj_items(path):
    """{source: include path or None}, [headers], {custom build and
    resource compile inputs}."""
    root = ET.parse(path).getroot()
    srcs, heads, custom = {}, [], set()
    default = None
    for idg in root.iter(MSB + "ItemDefinitionGroup"):
        for cl in idg.iter(MSB + "ClCompile"):
            inc = cl.find(MSB + "AdditionalIncludeDirectories")
            if inc is not None:
                if default not in (None, inc.text):
                    default = "differs between configurations"
                else:
                    default = inc.text
    for tag, into in (("ClCompile", srcs), ("ClInclude", heads),
                      ("CustomBuild", custom), ("ResourceCompile", custom)):
        for item in root.iter(MSB + tag):
            inc = item.get("Include")
            if not inc:
                continue
            rel = os.path.normpath(os.path.join("vs", inc.replace("\\", "/")))
            if tag == "ClCompile":
                meta = item.find(MSB + "AdditionalIncludeDirectories")
                into[rel] = None if meta is None else meta.text
            elif tag == "ClInclude":
                into.append(rel)
            else:
                into.add(rel)
    return srcs, sorted(heads), custom, default


def item_group(srcs, heads):
    lines = ["  <ItemGroup>"]
    for s in srcs:
        inc = layer_inc(s)
        if inc is None:  # the project's default: the core's
            lines.append('    <ClCompile Include="%s" />' % win(s))
        else:
            lines += ['    <ClCompile Include="%s">' % win(s),
                      "      <AdditionalIncludeDirectories>%s"
                      "</AdditionalIncludeDirectories>" % inc,
                      "    </ClCompile>"]
    lines += ["  </ItemGroup>", "  <ItemGroup>"]
    lines += ['    <ClInclude Include="%s" />' % win(h) for h in heads]
    lines.append("  </ItemGroup>")
    return "\r\n".join(lines) + "\r\n"


def write_vcxproj(path, srcs):
    text = open(path, newline="").read()
    pat = re.compile(r"  <ItemGroup>\r\n    <ClCompile .*?</ItemGroup>\r\n"
                     r"  <ItemGroup>\r\n    <ClInclude .*?</ItemGroup>\r\n",
                     re.S)
    text, n = pat.subn(lambda m: item_group(srcs, headers_for(srcs)), text)
    if n != 1:
        sys.exit("%s: cannot find its ClCompile and ClInclude groups" % path)
    text = re.sub(r"<ItemDefinitionGroup.*?</ItemDefinitionGroup>",
                  lambda m: re.sub(r"<AdditionalIncludeDirectories>[^<]*<",
                                   "<AdditionalIncludeDirectories>%s<"
                                   % CORE_INC.replace("\\", "\\\\"),
                                   m.group(0)), text, flags=re.S)
    open(path, "w", newline="").write(text)
    print("wrote %s" % path)


def check_vcxproj(path, want):
    default_inc = CORE_INC
    srcs, heads, custom, default = vcxproj_items(path)
    have = sorted(srcs)
    check("%s sources == make's" % path, have == want,
          "only in vcxproj: %s; only in make: %s"
          % (sorted(set(have) - set(want)), sorted(set(want) - set(have))))
    check("%s headers == its layers' headers" % path,
          heads == headers_for(want),
          "only in vcxproj: %s; missing: %s"
          % (sorted(set(heads) - set(headers_for(want))),
             sorted(set(headers_for(want)) - set(heads))))
    check("%s default include path is %s" % (path, default_inc),
          default == default_inc, repr(default))
    wrong = ["%s: %s" % (s, srcs[s]) for s in have
             if srcs[s] != layer_inc(s)]
    check("%s sources compile with their layer's include path" % path,
          not wrong, "; ".join(wrong))
    return custom


def check_resources(custom):
    text = open("CMakeLists.txt").read()
    for res in make_list("print-win-res"):
        check("vcxproj compiles %s" % res, res in custom,
              "CustomBuild inputs: %s" % sorted(custom))
        check("CMakeLists.txt compiles %s" % res,
              res.split("/")[-1] in text and "add_custom_command" in text)


def check_vs_settings(path):
    raw = open(path, "rb").read()
    check("%s has CRLF line ends only" % path,
          raw.count(b"\n") == raw.count(b"\r\n"),
          "%d bare LF" % (raw.count(b"\n") - raw.count(b"\r\n")))
    root = ET.parse(path).getroot()
    for idg in root.iter(MSB + "ItemDefinitionGroup"):
        cond = idg.get("Condition", "")
        want = "MultiThreadedDebug" if "Debug" in cond else "MultiThreaded"
        rt = idg.find(MSB + "ClCompile/" + MSB + "RuntimeLibrary")
        check("%s %s links the static C runtime (%s)" % (path, cond, want),
              rt is not None and rt.text == want,
              repr(None if rt is None else rt.text))
    triplets = [e.text for e in root.iter(MSB + "VcpkgTriplet")]
    check("%s uses vcpkg's x64-windows-static triplet" % path,
          triplets == ["x64-windows-static"], repr(triplets))
    for tag in ("OutDir", "IntDir"):
        vals = [e.text or "" for e in root.iter(MSB + tag)]
        check("%s %s does not depend on $(SolutionDir)" % (path, tag),
              vals and not any("$(SolutionDir)" in v for v in vals),
              repr(vals))
    for cmd in root.iter(MSB + "Command"):
        bad = re.findall(r'"\$\((?:IntDir|OutDir)\)"', cmd.text or "")
        check("%s custom build quotes no folder ending in \\" % path,
              not bad, cmd.text)
    return root


def check_vs_and_versions():
    root = check_vs_settings("vs/pumpkinlb.vcxproj")
    gen = [e.text for e in root.iter(MSB + "GenerateManifest")]
    check("pumpkinlb.vcxproj adds no linker manifest (pumpkinlb.rc has one)",
          gen == ["false"], repr(gen))
    check_vs_settings("vs/unit-tests.vcxproj")
    base = json.load(open("vs/vcpkg.json")).get("builtin-baseline", "")
    check("vcpkg.json has a builtin-baseline commit id",
          re.fullmatch(r"[0-9a-f]{40}", base) is not None, repr(base))
    cm = open("CMakeLists.txt").read()
    check("CMakeLists.txt links MSVC's static C runtime",
          'CMAKE_MSVC_RUNTIME_LIBRARY "MultiThreaded$<$<CONFIG:Debug>:Debug>"'
          in cm)
    ver = open("include/lb_version.h").read()
    nums = [re.search(r"LB_VERSION_%s (\d+)" % n, ver)
            for n in ("MAJOR", "MINOR", "PATCH")]
    text = re.search(r'LB_VERSION "([^"]*)"', ver)
    check("lb_version.h numbers spell LB_VERSION",
          all(nums) and text is not None and
          ".".join(m.group(1) for m in nums) == text.group(1), ver)


def cmake_sources():
    """{target: set of sources}, and the build dir, from a mingw configure."""
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
    return by_target, build


def check_cmake(exe, tests):
    targets, build = cmake_sources()
    libs = targets.get("lbcore", set()) | targets.get("lbplatform", set())
    for name, want, have in (
            ("pumpkinlb", exe, libs | targets.get("pumpkinlb", set())),
            ("unit-tests", tests, libs | targets.get("unit-tests", set()))):
        have = sorted(h for h in have if h.endswith(".c"))
        check("CMake's Windows %s sources == make's" % name, have == want,
              "only in CMake: %s; only in make: %s"
              % (sorted(set(have) - set(want)),
                 sorted(set(want) - set(have))))
    rules = open(os.path.join(build, "CMakeFiles", "pumpkinlb.dir",
                              "build.make")).read()
    for res in make_list("print-win-res"):
        check("CMake's Windows build compiles %s" % res,
              res in rules and ".rc" in rules)


def main(argv):
    exe, tests = make_list("print-win-srcs"), make_list("print-win-unit-srcs")
    if "--write" in argv:
        write_vcxproj("vs/pumpkinlb.vcxproj", exe)
        write_vcxproj("vs/unit-tests.vcxproj", tests)
        return 0
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
    custom = check_vcxproj("vs/pumpkinlb.vcxproj", exe)
    check_vcxproj("vs/unit-tests.vcxproj", tests)
    check_resources(custom)
    check_vs_and_versions()
    if "--no-cmake" not in argv:
        check_cmake(exe, tests)
    failed = results.count(False)
    print("build files: %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
