// Host builds for x86-64 (the in-process oracle, host/backends/engine.py) compile the engine with
// TR_X86_KERNELS and the SIMD kernels of firmware/engine/x86/. A kernel first offers its op to
// its x86 version, which returns true when it computed the op (byte for byte the same result)
// and false for a case it leaves to the portable code below the hook. Cortex-M and portable
// builds compile the hook to nothing.
#ifndef TINYROBUST_X86_HOOK_H_
#define TINYROBUST_X86_HOOK_H_

#if defined(TR_X86_KERNELS)
#include "x86/x86_kernels.h"
#define TR_TRY_X86(kernel, ...)                 \
  do {                                          \
    if (::tr::x86::kernel(__VA_ARGS__)) return; \
  } while (0)
#else
#define TR_TRY_X86(kernel, ...) \
  do {                          \
  } while (0)
#endif

#endif  // TINYROBUST_X86_HOOK_H_
