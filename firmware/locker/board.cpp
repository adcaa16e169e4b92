#include "board.h"

#include <avr/io.h>

#include "config.h"
#include "wiring.h"

namespace {

const uint8_t kChips = WIRING_CHIPS_PER_FUNCTION(CELLS);

/* Port registers by the letter used in wiring.h; folded to single sbi/cbi/sbic instructions when inlined. */
inline volatile uint8_t& port_reg(char port) {
  return port == 'B' ? PORTB : port == 'C' ? PORTC : PORTD;
}
inline volatile uint8_t& ddr_reg(char port) {
  return port == 'B' ? DDRB : port == 'C' ? DDRC : DDRD;
}
inline volatile uint8_t& pin_reg(char port) {
  return port == 'B' ? PINB : port == 'C' ? PINC : PIND;
}

#define OUTPUT_PIN(name) ddr_reg(WIRING_##name##_PORT) |= _BV(WIRING_##name##_BIT)
#define INPUT_PIN(name)                                          \
  do {                                                           \
    ddr_reg(WIRING_##name##_PORT) &= ~_BV(WIRING_##name##_BIT);  \
    port_reg(WIRING_##name##_PORT) &= ~_BV(WIRING_##name##_BIT); \
  } while (0)
#define SET_PIN(name) port_reg(WIRING_##name##_PORT) |= _BV(WIRING_##name##_BIT)
#define CLEAR_PIN(name) port_reg(WIRING_##name##_PORT) &= ~_BV(WIRING_##name##_BIT)
#define READ_PIN(name) ((pin_reg(WIRING_##name##_PORT) & _BV(WIRING_##name##_BIT)) != 0)

/* Shifts one byte into the 74HC165 side: returns chip bits D7..D0 as bits 7..0. */
uint8_t shift_in_byte() {
  uint8_t value = 0;
  for (uint8_t i = 0; i < 8; ++i) {
    value = (value << 1) | (READ_PIN(SENSE_DATA) ? 1 : 0);
    SET_PIN(SENSE_CLOCK);
    CLEAR_PIN(SENSE_CLOCK);
  }
  return value;
}

}  // namespace

namespace board {

void begin() {
  /* /OE high first (the pull-up already holds it there), then clear and latch every register, then enable. */
  SET_PIN(LOCK_ENABLE_N);
  OUTPUT_PIN(LOCK_ENABLE_N);
  OUTPUT_PIN(LOCK_DATA);
  OUTPUT_PIN(LOCK_CLOCK);
  OUTPUT_PIN(LOCK_LATCH);
  write_locks(0);
  CLEAR_PIN(LOCK_ENABLE_N);

  SET_PIN(SENSE_LOAD_N);
  OUTPUT_PIN(SENSE_LOAD_N);
  OUTPUT_PIN(SENSE_CLOCK);
  INPUT_PIN(SENSE_DATA);  /* driven by the 74HC165: no pull-up */

  OUTPUT_PIN(STATUS_LED);
}

void write_locks(uint16_t released) {
  /* The last output of the last chip goes first, cell 1 last (wiring.h). */
  for (int8_t bit = kChips * 8 - 1; bit >= 0; --bit) {
    if (bit < CELLS && (released & (1U << bit))) SET_PIN(LOCK_DATA);
    else CLEAR_PIN(LOCK_DATA);
    SET_PIN(LOCK_CLOCK);
    CLEAR_PIN(LOCK_CLOCK);
  }
  SET_PIN(LOCK_LATCH);
  CLEAR_PIN(LOCK_LATCH);
}

SensorSample read_sensors() {
  CLEAR_PIN(SENSE_LOAD_N);
  SET_PIN(SENSE_LOAD_N);
  uint16_t door_open = 0;
  uint16_t ir_clear = 0;
  for (uint8_t chip = 0; chip < kChips; ++chip) door_open |= static_cast<uint16_t>(shift_in_byte()) << (8 * chip);
  for (uint8_t chip = 0; chip < kChips; ++chip) ir_clear |= static_cast<uint16_t>(shift_in_byte()) << (8 * chip);
  /* Both inputs are active low (wiring.h): a cut wire reads as an open door and an empty cell. */
  return SensorSample{static_cast<uint16_t>(~door_open), static_cast<uint16_t>(~ir_clear)};
}

void set_status_led(bool on) {
  if (on) SET_PIN(STATUS_LED);
  else CLEAR_PIN(STATUS_LED);
}

}  // namespace board
