// Vector table and reset handler shared by every board (no vendor startup code).
#include <stdint.h>

#include "cortex_m.h"

extern uint32_t __data_load__, __data_start__, __data_end__;
extern uint32_t __bss_start__, __bss_end__;
extern uint32_t __stack_top__;
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);

int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);
void tr_irq_handler(void);

#define IRQ_LINES 96

// Any fault resets the board: the host sees the boot HELLO and resends its request.
static void Fault_Handler(void) { tr_system_reset(); }
static void Ignore_Handler(void) {}

void Reset_Handler(void) {
  uint32_t* src = &__data_load__;
  for (uint32_t* dst = &__data_start__; dst < &__data_end__;) {
    *dst++ = *src++;
  }
  for (uint32_t* dst = &__bss_start__; dst < &__bss_end__;) {
    *dst++ = 0;
  }
  tr_fpu_enable();
  for (void (**ctor)(void) = __init_array_start; ctor < __init_array_end; ctor++) {
    (*ctor)();
  }
  main();
  tr_system_reset();
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16 + IRQ_LINES])(void) = {
    (void (*)(void))(&__stack_top__),
    Reset_Handler,
    Fault_Handler,  // NMI
    Fault_Handler,  // HardFault
    Fault_Handler,  // MemManage
    Fault_Handler,  // BusFault
    Fault_Handler,  // UsageFault
    0,
    0,
    0,
    0,
    Ignore_Handler,  // SVCall
    Ignore_Handler,  // DebugMonitor
    0,
    Ignore_Handler,  // PendSV
    SysTick_Handler,
    [16 ... 16 + IRQ_LINES - 1] = tr_irq_handler,  // every peripheral line only wakes the core
};
