/*
 * The locker board around the MCU, as the firmware sees it through its pins (firmware/locker/wiring.h):
 * the 74HC595 lock chain (outputs watched), the 74HC165 sensor chain (inputs served), door reed switches and IR
 * sensors (set by the control channel), and optionally a motorised hatch that makes each door follow its lock.
 */
#ifndef SKYPOST_SIM_BOARD_MODEL_H
#define SKYPOST_SIM_BOARD_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include <sim_avr.h>

#define BOARD_MAX_CELLS 16

typedef struct board_events {
  void (*lock_changed)(void *context, int cell, bool locked);
  void (*door_changed)(void *context, int cell, bool open);  /* only for changes the model makes itself */
  void *context;
} board_events_t;

struct board_model;

/* Which of the MCU's output pins a notification is about. */
typedef struct board_pin_hook {
  struct board_model *board;
  int role;
} board_pin_hook_t;

#define BOARD_WATCHED_PINS 6

typedef struct board_model {
  avr_t *avr;
  int cells;
  int chips;  /* per function */
  board_events_t events;

  /* The MCU's output pins: notification contexts and the levels last seen (edge detection). */
  board_pin_hook_t hooks[BOARD_WATCHED_PINS];
  uint8_t pin_level[BOARD_WATCHED_PINS];

  /* 74HC595 chain */
  uint32_t lock_shift;
  uint32_t lock_latch;
  uint16_t released;  /* outputs as the actuators see them: HIGH = latch released */

  /* 74HC165 chain: bytes captured at /PL, chip 0 first; next bit to present on Q7 */
  uint8_t sense_bytes[2 * BOARD_MAX_CELLS / 8];
  int sense_position;
  struct avr_irq_t *sense_data_irq;

  /* the world */
  uint16_t door_open;
  uint16_t occupied;

  /* motorised hatch (--auto-door): doors follow their lock after door_delay_ns */
  bool auto_door;
  uint64_t door_delay_ns;
  uint64_t door_due_ns[BOARD_MAX_CELLS];  /* 0: nothing pending */
  uint64_t now_ns;
} board_model_t;

void board_init(board_model_t *board, avr_t *avr, int cells, board_events_t events);
/* The MCU was reset: its pins float, /OE's pull-up disables the lock outputs (every latch engages). */
void board_mcu_reset(board_model_t *board);
void board_set_door(board_model_t *board, int cell, bool open);
void board_set_occupied(board_model_t *board, int cell, bool occupied);
/* Advances the world to simulated time `now_ns` (hatch movements). */
void board_tick(board_model_t *board, uint64_t now_ns);
uint16_t board_locked(const board_model_t *board);
uint16_t board_door_closed(const board_model_t *board);

#endif
