// STM32F4 (STM32F405 in QEMU netduinoplus2, real STM32F4 boards): USART, SysTick or DWT.
//
// Build options (compiler -D flags):
//   TR_STM32_USART  1: USART1 on PA9/PA10 (QEMU netduinoplus2, default); 2: USART2 on PA2/PA3
//                   (the ST-LINK virtual COM port of Nucleo boards).
//   TR_STM32_QEMU   1: count instructions with SysTick under -icount shift=0;
//                   0: count CPU cycles with the DWT (real hardware, Renode).
//   TR_BOARD_NAME   name reported in HELLO.
// The core runs on the 16 MHz HSI oscillator after reset; no PLL set-up keeps the code small.
#include "board.h"

#include "cortex_m.h"

#ifndef TR_STM32_USART
#define TR_STM32_USART 1
#endif
#ifndef TR_STM32_QEMU
#define TR_STM32_QEMU 1
#endif
#ifndef TR_BOARD_NAME
#define TR_BOARD_NAME "stm32f405"
#endif

#define RCC_AHB1ENR TR_REG(0x40023830u)
#define RCC_APB1ENR TR_REG(0x40023840u)
#define RCC_APB2ENR TR_REG(0x40023844u)
#define GPIOA_MODER TR_REG(0x40020000u)
#define GPIOA_AFRL TR_REG(0x40020020u)
#define GPIOA_AFRH TR_REG(0x40020024u)

#if TR_STM32_USART == 1
#define USART_BASE 0x40011000u
#define USART_IRQ 37u
#else
#define USART_BASE 0x40004400u
#define USART_IRQ 38u
#endif
#define USART_SR TR_REG(USART_BASE + 0x0u)
#define USART_DR TR_REG(USART_BASE + 0x4u)
#define USART_BRR TR_REG(USART_BASE + 0x8u)
#define USART_CR1 TR_REG(USART_BASE + 0xCu)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_UE (1u << 13)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RE (1u << 2)

#define HSI_HZ 16000000u
#define BAUD 115200u
#define GPIO_AF_USART 7u

// Puts two GPIOA pins in alternate function 7 (USART).
static void gpioa_usart_pins(uint32_t tx, uint32_t rx) {
  uint32_t pins[2] = {tx, rx};
  for (int i = 0; i < 2; i++) {
    uint32_t pin = pins[i];
    GPIOA_MODER = (GPIOA_MODER & ~(0x3u << (2 * pin))) | (0x2u << (2 * pin));
    volatile uint32_t* afr = pin < 8 ? &GPIOA_AFRL : &GPIOA_AFRH;
    uint32_t shift = 4 * (pin % 8);
    *afr = (*afr & ~(0xFu << shift)) | (GPIO_AF_USART << shift);
  }
}

// The RXNE interrupt: reading the data register clears it.
static int rx_ready(void) { return (USART_SR & USART_SR_RXNE) != 0; }
static uint8_t rx_byte(void) { return (uint8_t)USART_DR; }
static const tr_rx_uart usart = {USART_IRQ, rx_ready, rx_byte, 0};

void tr_board_init(uint8_t* rx_ring, uint32_t rx_ring_bytes) {
  RCC_AHB1ENR |= 1u;  // GPIOA
#if TR_STM32_USART == 1
  RCC_APB2ENR |= 1u << 4;
  gpioa_usart_pins(9, 10);
#else
  RCC_APB1ENR |= 1u << 17;
  gpioa_usart_pins(2, 3);
#endif
  USART_BRR = (HSI_HZ + BAUD / 2) / BAUD;
  USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
  tr_rx_start(&usart, rx_ring, rx_ring_bytes);
#if TR_STM32_QEMU
  tr_systick_start();
#else
  tr_dwt_start();
#endif
}

void tr_uart_write(const uint8_t* data, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    while (!(USART_SR & USART_SR_TXE)) {
    }
    USART_DR = data[i];
  }
}

uint8_t tr_uart_read(void) { return tr_rx_read(); }

#if TR_STM32_QEMU
// QEMU clocks the STM32F405 SysTick at 168 MHz; with -icount shift=0 one instruction takes
// 1 ns, so one tick is 1000/168 = 125/21 instructions.
uint64_t tr_counter_ticks(void) { return tr_systick_ticks(); }
uint64_t tr_counter_count(uint64_t ticks) { return ticks * 125u / 21u; }
int tr_counter_is_instructions(void) { return 1; }
uint32_t tr_cpu_hz(void) { return 0; }
#else
uint64_t tr_counter_ticks(void) { return tr_dwt_ticks(); }
uint64_t tr_counter_count(uint64_t ticks) { return ticks; }
int tr_counter_is_instructions(void) { return 0; }
uint32_t tr_cpu_hz(void) { return HSI_HZ; }
#endif

const char* tr_board_name(void) { return TR_BOARD_NAME; }
void tr_board_reset(void) { tr_system_reset(); }
