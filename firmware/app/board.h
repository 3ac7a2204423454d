// Board interface: what the protocol loop needs from a board (one implementation per board).
#ifndef TINYROBUST_APP_BOARD_H_
#define TINYROBUST_APP_BOARD_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Clocks, UART and the counter; called once at boot. From then on the UART's receive interrupt
// keeps received bytes in `rx_ring` (`rx_ring_bytes`) until tr_uart_read() takes them, so bytes
// keep coming while the device computes or sends.
void tr_board_init(uint8_t* rx_ring, uint32_t rx_ring_bytes);
// Blocking UART transmit of n bytes.
void tr_uart_write(const uint8_t* data, uint32_t n);
// The oldest received byte; waits (asleep) for one.
uint8_t tr_uart_read(void);
// A free-running counter in board ticks (64 bits, never wraps in practice).
uint64_t tr_counter_ticks(void);
// Converts elapsed ticks to cycles (hardware) or instructions (QEMU -icount shift=0).
uint64_t tr_counter_count(uint64_t ticks);
// 1 when tr_counter_count() gives instructions (emulator), 0 when it gives CPU cycles.
int tr_counter_is_instructions(void);
// Core clock in Hz, 0 when unknown (emulator).
uint32_t tr_cpu_hz(void);
// Short board name, e.g. "mps2-an386".
const char* tr_board_name(void);
// System reset through the Cortex-M AIRCR register; never returns.
void tr_board_reset(void);

#ifdef __cplusplus
}
#endif

#endif  // TINYROBUST_APP_BOARD_H_
