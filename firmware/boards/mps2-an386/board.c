// QEMU mps2-an386 (Cortex-M4): CMSDK UART0 and SysTick under -icount shift=0.
#include "board.h"

#include "cortex_m.h"

#define UART0_DATA TR_REG(0x40004000u)
#define UART0_STATE TR_REG(0x40004004u)
#define UART0_CTRL TR_REG(0x40004008u)
#define UART0_INTCLEAR TR_REG(0x4000400Cu)
#define UART0_BAUDDIV TR_REG(0x40004010u)
#define UART0_RX_IRQ 0u
#define UART_CTRL_TX_RX_ENABLE 0x3u
#define UART_CTRL_RX_IRQ_ENABLE 0x8u
#define UART_INT_RX 0x2u
#define UART_STATE_TX_FULL 0x1u
#define UART_STATE_RX_FULL 0x2u

// The SysTick runs on the 25 MHz system clock; with -icount shift=0 one instruction takes 1 ns,
// so one tick is 40 instructions.
#define INSTRUCTIONS_PER_TICK 40u

void tr_uart_write(const uint8_t* data, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    while (UART0_STATE & UART_STATE_TX_FULL) {
    }
    UART0_DATA = data[i];
  }
}

static int rx_ready(void) { return (UART0_STATE & UART_STATE_RX_FULL) != 0; }
static uint8_t rx_byte(void) { return (uint8_t)UART0_DATA; }
// The receive interrupt is latched: clear it before taking the bytes.
static void rx_clear(void) { UART0_INTCLEAR = UART_INT_RX; }
static const tr_rx_uart uart0 = {UART0_RX_IRQ, rx_ready, rx_byte, rx_clear};

void tr_board_init(uint8_t* rx_ring, uint32_t rx_ring_bytes) {
  UART0_BAUDDIV = 16;
  UART0_CTRL = UART_CTRL_TX_RX_ENABLE | UART_CTRL_RX_IRQ_ENABLE;
  tr_rx_start(&uart0, rx_ring, rx_ring_bytes);
  tr_systick_start();
}

uint8_t tr_uart_read(void) { return tr_rx_read(); }

uint64_t tr_counter_ticks(void) { return tr_systick_ticks(); }
uint64_t tr_counter_count(uint64_t ticks) { return ticks * INSTRUCTIONS_PER_TICK; }
int tr_counter_is_instructions(void) { return 1; }
uint32_t tr_cpu_hz(void) { return 0; }
const char* tr_board_name(void) { return "mps2-an386"; }
void tr_board_reset(void) { tr_system_reset(); }
