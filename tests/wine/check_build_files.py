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
  compiled by the vcxproj (a CustomBuild of mc.exe and its .rc) and by
  CMakeLists.txt;
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
    """{source: include path or None}, [headers], {custom build inputs}."""
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
                      ("CustomBuild", custom)):
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
    if "--no-cmake" not in argv:
        check_cmake(exe, tests)
    failed = results.count(False)
    print("build files: %d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
