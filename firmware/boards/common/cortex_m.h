// Cortex-M core registers shared by every board (ARMv7-M architecture reference manual).
#ifndef TINYROBUST_BOARDS_CORTEX_M_H_
#define TINYROBUST_BOARDS_CORTEX_M_H_

#include <stdint.h>

#define TR_REG(address) (*(volatile uint32_t*)(address))

// System control block.
#define SCB_CPACR TR_REG(0xE000ED88u)
#define SCB_AIRCR TR_REG(0xE000ED0Cu)
#define SCB_DEMCR TR_REG(0xE000EDFCu)
// SysTick.
#define SYST_CSR TR_REG(0xE000E010u)
#define SYST_RVR TR_REG(0xE000E014u)
#define SYST_CVR TR_REG(0xE000E018u)
// NVIC set-enable, clear-enable and clear-pending registers (32 lines each).
#define NVIC_ISER(n) TR_REG(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) TR_REG(0xE000E180u + 4u * (n))
#define NVIC_ICPR(n) TR_REG(0xE000E280u + 4u * (n))
// Data watchpoint and trace unit (cycle counter).
#define DWT_CTRL TR_REG(0xE0001000u)
#define DWT_CYCCNT TR_REG(0xE0001004u)

// Enables the FPU (CP10 and CP11 full access).
void tr_fpu_enable(void);
// Starts SysTick on the core clock with an overflow interrupt (24-bit counter extended in RAM).
void tr_systick_start(void);
// Ticks of the core clock since tr_systick_start().
uint64_t tr_systick_ticks(void);
// Starts the DWT cycle counter (real hardware only: QEMU does not model the DWT).
void tr_dwt_start(void);
// DWT cycles since tr_dwt_start(), extended to 64 bits by the caller polling often enough.
uint64_t tr_dwt_ticks(void);
// A UART's receiver, as interrupt-driven receive sees it.
typedef struct {
  uint32_t irq;                // its receive interrupt line
  int (*byte_ready)(void);     // 1 when a received byte waits in the UART
  uint8_t (*read_byte)(void);  // takes that byte
  void (*clear)(void);         // acknowledges a latched receive interrupt (NULL: reading does)
} tr_rx_uart;
// Starts interrupt-driven receive: the receive interrupt moves each byte from `uart` into `ring`
// (`size` bytes), so bytes keep coming while the core computes. When the ring is full the line is
// disabled and the byte waits in the UART (QEMU holds the rest back; hardware overruns, which the
// CRC tells) until tr_rx_read() makes room.
void tr_rx_start(const tr_rx_uart* uart, uint8_t* ring, uint32_t size);
// The oldest received byte, asleep (WFI) while the ring is empty, so an idle board costs no CPU.
uint8_t tr_rx_read(void);
// Masks and unmasks interrupts (PRIMASK).
static inline void tr_irq_mask(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void tr_irq_unmask(void) { __asm volatile("cpsie i" ::: "memory"); }
// Requests a system reset and waits for it.
void tr_system_reset(void);

#endif  // TINYROBUST_BOARDS_CORTEX_M_H_
