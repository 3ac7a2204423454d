"""A local PlatformIO platform: the emulated boards, built with the system toolchain."""

from platformio.public import PlatformBase


class TinyrobustqemuPlatform(PlatformBase):
    """No packages to install: arm-none-eabi-gcc and qemu-system-arm come from the system."""
