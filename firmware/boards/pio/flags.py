"""PlatformIO extra script: the same compiler and linker flags as host/board/firmware.py."""

Import("env")  # noqa: F821  (provided by PlatformIO's SCons)

env.Append(  # noqa: F821
    CCFLAGS=["-O2", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Werror"],
    CFLAGS=["-std=c11"],
    CXXFLAGS=["-std=c++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics"],
    LINKFLAGS=[
        "-nostartfiles",
        "-Wl,--gc-sections",
        "--specs=nano.specs",
        "--specs=nosys.specs",
        "-Lfirmware/boards/common",
    ],
)
