// Cortex-M core support shared by every board: FPU, SysTick and DWT counters, reset.
#include "cortex_m.h"

#define SYST_RELOAD 0x00FFFFFFu

static volatile uint32_t systick_wraps;
static uint32_t dwt_last;
static uint64_t dwt_high;

void tr_fpu_enable(void) {
  SCB_CPACR |= (0xFu << 20);
  __asm volatile("dsb\n isb" ::: "memory");
}

void SysTick_Handler(void) { systick_wraps++; }

void tr_systick_start(void) {
  systick_wraps = 0;
  SYST_RVR = SYST_RELOAD;
  SYST_CVR = 0;
  SYST_CSR = 0x7u;  // CLKSOURCE = core clock, TICKINT, ENABLE
}

uint64_t tr_systick_ticks(void) {
  uint32_t wraps;
  uint32_t value;
  do {
    wraps = systick_wraps;
    value = SYST_CVR;
  } while (wraps != systick_wraps);
  return (uint64_t)wraps * (SYST_RELOAD + 1u) + (SYST_RELOAD - value);
}

void tr_dwt_start(void) {
  SCB_DEMCR |= (1u << 24);  // TRCENA
  DWT_CYCCNT = 0;
  DWT_CTRL |= 1u;  // CYCCNTENA
  dwt_last = 0;
  dwt_high = 0;
}

uint64_t tr_dwt_ticks(void) {
  uint32_t now = DWT_CYCCNT;
  if (now < dwt_last) {
    dwt_high += 1ull << 32;
  }
  dwt_last = now;
  return dwt_high | now;
}

void tr_sleep_until_irq(uint32_t irq) {
  NVIC_ICPR(irq / 32u) = 1u << (irq % 32u);
  NVIC_ISER(irq / 32u) = 1u << (irq % 32u);
  __asm volatile("dsb\n wfi" ::: "memory");
}

uint8_t tr_read_byte_asleep(int (*byte_ready)(void), uint8_t (*read_byte)(void), uint32_t irq) {
  for (;;) {
    tr_irq_mask();
    int ready = byte_ready();
    if (!ready) {
      tr_sleep_until_irq(irq);
    }
    tr_irq_unmask();
    if (ready) {
      return read_byte();
    }
  }
}

void tr_irq_handler(void) {
  for (uint32_t n = 0; n < 4; n++) {
    NVIC_ICER(n) = 0xFFFFFFFFu;  // wake-up only: the interrupted code polls the peripheral
  }
}

void tr_system_reset(void) {
  __asm volatile("dsb" ::: "memory");
  SCB_AIRCR = (0x05FAu << 16) | (1u << 2);  // VECTKEY, SYSRESETREQ
  __asm volatile("dsb" ::: "memory");
  for (;;) {
  }
}
