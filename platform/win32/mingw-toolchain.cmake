# CMake toolchain for the mingw-w64 cross build; CTest runs the .exe tests
# through Wine. Use with -DLB_WIN_DEPS=<dir from platform/win32/deps.sh>:
#   sh platform/win32/deps.sh build-win/deps
#   cmake -S . -B build-wincmake \
#     -DCMAKE_TOOLCHAIN_FILE=platform/win32/mingw-toolchain.cmake \
#     -DLB_WIN_DEPS=$PWD/build-win/deps
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR wine)
