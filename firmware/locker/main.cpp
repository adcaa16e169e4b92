/*
 * SkyPost locker controller: an ATmega328P driving N cell locks and reading door and occupancy sensors, talking
 * rosserial to the locker node (see firmware/README.md for the wiring, protocol and behaviour).
 *
 * The loop never blocks: it services the serial port, samples the sensors every SENSE_PERIOD_MS, refreshes the lock
 * registers, runs the rosserial session, pets the watchdog, then idles the CPU until the next interrupt (the 1 ms
 * timer tick or a received byte). Nothing but rosserial frames ever goes out of the serial port.
 */
#include <Arduino.h>
#include <avr/sleep.h>
#include <avr/wdt.h>
#include <string.h>

#include "board.h"
#include "cells.h"
#include "config.h"
#include "session.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * Board description for tools (the simavr harness reads it): a non-allocated ELF section, so it costs no flash and
 * never reaches the .hex.
 */
asm(".pushsection .skypost.board,\"\",@progbits\n"
    "\t.ascii \"mcu=" STR(__AVR_DEVICE_NAME__) "\\ncells=" STR(CELLS) "\\nf_cpu=" STR(F_CPU) "\\n\\0\"\n"
    "\t.popsection\n");

/* The reset cause, saved before anything else runs; the watchdog is stopped here because after a watchdog reset it
   stays enabled at its shortest period and would fire again during start-up. */
uint8_t reset_flags __attribute__((section(".noinit")));
extern "C" void save_reset_flags() __attribute__((naked, used, section(".init3")));
extern "C" void save_reset_flags() {
  reset_flags = MCUSR;
  MCUSR = 0;
  wdt_disable();
}

namespace {

Cells cells;
Debouncer door_closed;
Debouncer occupied;
char greeting[64];
Session session(Serial, cells, greeting);

uint32_t last_sense_ms = 0;
uint32_t last_lock_write_ms = 0;
uint16_t written_locks = 0;

const char* reset_cause() {
  if (reset_flags & _BV(WDRF)) return "watchdog";
  if (reset_flags & _BV(BORF)) return "brown-out";
  if (reset_flags & _BV(EXTRF)) return "reset pin";
  if (reset_flags & _BV(PORF)) return "power-on";
  return "unknown";
}

/* Appends `text` to the string in `buffer` (capacity `size`), truncating rather than overflowing. */
void append(char* buffer, size_t size, const char* text) {
  strncat(buffer, text, size - strlen(buffer) - 1);
}

/* "cell 3: <text>", for the host's log. */
void log_cell(uint8_t level, uint8_t cell, const char* text) {
  char line[40] = "cell ";
  char number[4];
  append(line, sizeof(line), utoa(cell, number, 10));
  append(line, sizeof(line), ": ");
  append(line, sizeof(line), text);
  session.log(level, line);
}

void sense(uint32_t now) {
  const SensorSample raw = board::read_sensors();
  door_closed.sample(raw.door_closed);
  occupied.sample(raw.occupied);
  const uint16_t changed = cells.update_sensors(door_closed.value(), occupied.value(), now);
  for (uint8_t i = 0; i < CELLS; ++i) {
    if (!(changed & (1U << i))) continue;
    if (cells.fault() & (1U << i)) log_cell(rosserial::kLogWarn, i + 1, "door open while locked");
    else log_cell(rosserial::kLogInfo, i + 1, "fault cleared");
  }
}

void drive_locks(uint32_t now) {
  const uint16_t wanted = cells.released();
  if (wanted == written_locks && now - last_lock_write_ms < LOCK_REFRESH_MS) return;
  board::write_locks(wanted);
  written_locks = wanted;
  last_lock_write_ms = now;
}

}  // namespace

void setup() {
  board::begin();  /* every latch engaged before anything else */
  wdt_enable(WDTO_500MS);
  sense(millis());  /* the state is right from the first message on */
  append(greeting, sizeof(greeting), "SkyPost locker firmware " FIRMWARE_VERSION ", " STR(CELLS) " cells, reset: ");
  append(greeting, sizeof(greeting), reset_cause());
  Serial.begin(HOST_BAUD);
  set_sleep_mode(SLEEP_MODE_IDLE);
}

void loop() {
  const uint32_t now = millis();
  while (Serial.available() > 0) session.receive(static_cast<uint8_t>(Serial.read()), now);

  if (now - last_sense_ms >= SENSE_PERIOD_MS) {
    last_sense_ms = now;
    sense(now);
  }
  drive_locks(now);
  session.tick(now);
  board::set_status_led(session.configured());
  wdt_reset();

  /* Idle until the next interrupt; a byte that arrived meanwhile is handled on the next pass. */
  if (Serial.available() == 0) sleep_mode();
}
