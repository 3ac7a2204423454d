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

// The receive ring: head counts bytes put in (receive interrupt), tail bytes taken out (main
// loop, with interrupts masked); their difference is the fill. Both go back by size when tail
// reaches it, so they stay below 2 * size.
static struct {
  const tr_rx_uart* uart;
  uint8_t* ring;
  uint32_t size;
  volatile uint32_t head;
  volatile uint32_t tail;
  volatile int stalled;  // the line is off: the ring was full
} rx;

static void nvic_enable(uint32_t irq) { NVIC_ISER(irq / 32u) = 1u << (irq % 32u); }
static void nvic_disable(uint32_t irq) { NVIC_ICER(irq / 32u) = 1u << (irq % 32u); }

// Moves the waiting bytes into the ring; a full ring turns the line off. Runs in the receive
// interrupt or with interrupts masked.
static void rx_fill(void) {
  if (rx.uart->clear) {
    rx.uart->clear();  // first: a byte that comes after it latches the interrupt again
  }
  while (rx.head - rx.tail < rx.size) {
    if (!rx.uart->byte_ready()) {
      return;
    }
    rx.ring[rx.head % rx.size] = rx.uart->read_byte();
    rx.head++;
  }
  nvic_disable(rx.uart->irq);
  rx.stalled = 1;
}

void tr_rx_start(const tr_rx_uart* uart, uint8_t* ring, uint32_t size) {
  rx.uart = uart;
  rx.ring = ring;
  rx.size = size;
  rx.head = rx.tail = 0;
  rx.stalled = 0;
  NVIC_ICPR(uart->irq / 32u) = 1u << (uart->irq % 32u);
  nvic_enable(uart->irq);
}

uint8_t tr_rx_read(void) {
  for (;;) {
    tr_irq_mask();
    if (rx.head != rx.tail) {
      uint8_t byte = rx.ring[rx.tail];
      if (++rx.tail == rx.size) {
        rx.tail = 0;
        rx.head -= rx.size;
      }
      if (rx.stalled) {  // room again: take what waits in the UART, then listen again
        rx.stalled = 0;
        rx_fill();
        if (!rx.stalled) {
          nvic_enable(rx.uart->irq);
        }
      }
      tr_irq_unmask();
      return byte;
    }
    __asm volatile("dsb\n wfi" ::: "memory");  // a pending enabled interrupt wakes the core
    tr_irq_unmask();                           // the receive interrupt runs here
  }
}

void tr_irq_handler(void) {
  uint32_t ipsr;
  __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
  uint32_t irq = (ipsr & 0x1FFu) - 16u;
  if (rx.uart != 0 && irq == rx.uart->irq) {
    rx_fill();
  } else {
    nvic_disable(irq);  // no other line is used
  }
}

void tr_system_reset(void) {
  __asm volatile("dsb" ::: "memory");
  SCB_AIRCR = (0x05FAu << 16) | (1u << 2);  // VECTKEY, SYSRESETREQ
  __asm volatile("dsb" ::: "memory");
  for (;;) {
  }
}
