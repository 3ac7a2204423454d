"""SCons build script of the local platform: system arm-none-eabi toolchain, upload = QEMU."""

import sys

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()

env.Replace(
    AR="arm-none-eabi-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    LINK="arm-none-eabi-gcc",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-ranlib",
    SIZETOOL="arm-none-eabi-size",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGSUFFIX=".elf",
)
cpu = [f"-mcpu={board.get('build.cpu')}", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
env.Append(CCFLAGS=cpu, ASFLAGS=cpu, LINKFLAGS=cpu)

program = env.BuildProgram()
upload = env.Alias(
    "upload",
    program,
    env.VerboseAction(
        f'"{sys.executable}" -m host.emulator start --board {board.get("build.qemu_board")}'
        ' --elf "$SOURCE"',
        "Starting $SOURCE in QEMU",
    ),
)
AlwaysBuild(upload)
Default([program, env.Alias("size", program, env.VerboseAction("$SIZEPRINTCMD", "Size"))])
