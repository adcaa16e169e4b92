#include "board_model.h"

#include <string.h>

#include <avr_ioport.h>
#include <sim_irq.h>

#include "wiring.h"

enum pin_role {
  PIN_LOCK_DATA,
  PIN_LOCK_CLOCK,
  PIN_LOCK_LATCH,
  PIN_LOCK_ENABLE_N,
  PIN_SENSE_LOAD_N,
  PIN_SENSE_CLOCK,
  PIN_ROLES
};
_Static_assert(PIN_ROLES == BOARD_WATCHED_PINS, "board_model.h sizes the hook table");

static uint16_t all_cells(const board_model_t *board) { return (uint16_t)((1UL << board->cells) - 1); }

static void update_lock_outputs(board_model_t *board) {
  /* /OE high (or floating, pulled up): outputs off, the drivers' pull-downs engage every latch. */
  const uint16_t released =
      board->pin_level[PIN_LOCK_ENABLE_N] ? 0 : (uint16_t)(board->lock_latch & all_cells(board));
  const uint16_t changed = released ^ board->released;
  board->released = released;
  for (int i = 0; i < board->cells; ++i) {
    if (!(changed & (1U << i))) continue;
    const bool locked = !(released & (1U << i));
    if (board->auto_door) board->door_due_ns[i] = board->now_ns + board->door_delay_ns + 1;  /* 0 means none */
    if (board->events.lock_changed) board->events.lock_changed(board->events.context, i + 1, locked);
  }
}

static void present_sense_bit(board_model_t *board) {
  const int total_bits = 16 * board->chips;
  int level = 0;  /* past the last chip: its DS is tied to GND */
  if (board->sense_position < total_bits) {
    const int chip = board->sense_position / 8;
    const int input = 7 - board->sense_position % 8;
    level = (board->sense_bytes[chip] >> input) & 1;
  }
  avr_raise_irq(board->sense_data_irq, level);
}

static void load_sensors(board_model_t *board) {
  /* Inputs are active low with pull-ups: HIGH = door open / no parcel; unused inputs float high. */
  for (int chip = 0; chip < board->chips; ++chip) {
    uint8_t doors = 0xFF;
    uint8_t infrared = 0xFF;
    for (int input = 0; input < 8; ++input) {
      const int cell = chip * 8 + input;
      if (cell >= board->cells) break;
      if (!(board->door_open & (1U << cell))) doors &= (uint8_t)~(1U << input);
      if (board->occupied & (1U << cell)) infrared &= (uint8_t)~(1U << input);
    }
    board->sense_bytes[chip] = doors;
    board->sense_bytes[board->chips + chip] = infrared;
  }
  board->sense_position = 0;
  present_sense_bit(board);
}

static void pin_changed(board_model_t *board, enum pin_role role, uint8_t level) {
  const uint8_t previous = board->pin_level[role];
  board->pin_level[role] = level;
  const bool rising = !previous && level;
  switch (role) {
    case PIN_LOCK_CLOCK:
      if (rising) board->lock_shift = (board->lock_shift << 1) | board->pin_level[PIN_LOCK_DATA];
      break;
    case PIN_LOCK_LATCH:
      if (rising) {
        board->lock_latch = board->lock_shift;
        update_lock_outputs(board);
      }
      break;
    case PIN_LOCK_ENABLE_N:
      if (level != previous) update_lock_outputs(board);
      break;
    case PIN_SENSE_LOAD_N:
      if (!level) load_sensors(board);  /* parallel load while low */
      break;
    case PIN_SENSE_CLOCK:
      if (rising && board->pin_level[PIN_SENSE_LOAD_N]) {
        ++board->sense_position;
        present_sense_bit(board);
      }
      break;
    default:
      break;
  }
}

static void on_pin(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  board_pin_hook_t *hook = param;
  pin_changed(hook->board, (enum pin_role)hook->role, value & 1);
}

static struct avr_irq_t *pin_irq(avr_t *avr, char port, int bit) {
  return avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(port), bit);
}

static void watch(board_model_t *board, enum pin_role role, char port, int bit) {
  board->hooks[role].board = board;
  board->hooks[role].role = role;
  avr_irq_register_notify(pin_irq(board->avr, port, bit), on_pin, &board->hooks[role]);
}

void board_init(board_model_t *board, avr_t *avr, int cells, board_events_t events) {
  memset(board, 0, sizeof(*board));
  board->avr = avr;
  board->cells = cells;
  board->chips = WIRING_CHIPS_PER_FUNCTION(cells);
  board->events = events;
  board->door_delay_ns = 500000000ULL;
  board->pin_level[PIN_LOCK_ENABLE_N] = 1;
  board->pin_level[PIN_SENSE_LOAD_N] = 1;
  board->sense_data_irq = pin_irq(avr, WIRING_SENSE_DATA_PORT, WIRING_SENSE_DATA_BIT);
  watch(board, PIN_LOCK_DATA, WIRING_LOCK_DATA_PORT, WIRING_LOCK_DATA_BIT);
  watch(board, PIN_LOCK_CLOCK, WIRING_LOCK_CLOCK_PORT, WIRING_LOCK_CLOCK_BIT);
  watch(board, PIN_LOCK_LATCH, WIRING_LOCK_LATCH_PORT, WIRING_LOCK_LATCH_BIT);
  watch(board, PIN_LOCK_ENABLE_N, WIRING_LOCK_ENABLE_N_PORT, WIRING_LOCK_ENABLE_N_BIT);
  watch(board, PIN_SENSE_LOAD_N, WIRING_SENSE_LOAD_N_PORT, WIRING_SENSE_LOAD_N_BIT);
  watch(board, PIN_SENSE_CLOCK, WIRING_SENSE_CLOCK_PORT, WIRING_SENSE_CLOCK_BIT);
}

void board_mcu_reset(board_model_t *board) {
  memset(board->pin_level, 0, sizeof(board->pin_level));
  board->pin_level[PIN_LOCK_ENABLE_N] = 1;
  board->pin_level[PIN_SENSE_LOAD_N] = 1;
  update_lock_outputs(board);
}

void board_set_door(board_model_t *board, int cell, bool open) {
  const uint16_t bit = (uint16_t)(1U << (cell - 1));
  board->door_due_ns[cell - 1] = 0;  /* a hand on the door overrides the hatch */
  board->door_open = open ? (board->door_open | bit) : (board->door_open & ~bit);
}

void board_set_occupied(board_model_t *board, int cell, bool occupied) {
  const uint16_t bit = (uint16_t)(1U << (cell - 1));
  board->occupied = occupied ? (board->occupied | bit) : (board->occupied & ~bit);
}

void board_tick(board_model_t *board, uint64_t now_ns) {
  board->now_ns = now_ns;
  if (!board->auto_door) return;
  for (int i = 0; i < board->cells; ++i) {
    if (!board->door_due_ns[i] || board->door_due_ns[i] > now_ns) continue;
    board->door_due_ns[i] = 0;
    const uint16_t bit = (uint16_t)(1U << i);
    const bool open = (board->released & bit) != 0;
    if (open == ((board->door_open & bit) != 0)) continue;
    board->door_open ^= bit;
    if (board->events.door_changed) board->events.door_changed(board->events.context, i + 1, open);
  }
}

uint16_t board_locked(const board_model_t *board) { return all_cells(board) & ~board->released; }

uint16_t board_door_closed(const board_model_t *board) { return all_cells(board) & ~board->door_open; }
