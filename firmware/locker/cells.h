/*
 * What the locker controller knows about its cells: commanded lock state, debounced sensors, faults, and the last
 * command it applied. Pure logic: no pins, no serial, time passed in.
 *
 * Lock semantics: UNLOCK releases the latch (lock output HIGH, the cell can be opened), LOCK and LOCK_ALL engage it
 * (output LOW). A cell is in fault while it is commanded locked and its door has been open for longer than
 * FAULT_GRACE_MS (door forced, latch failed, or locked before the door was shut); the bit clears as soon as the door
 * closes or the cell is unlocked.
 *
 * Commands are applied once per seq: a command repeating the last applied seq is acknowledged (the caller publishes
 * the state again) but not re-applied. The seq memory belongs to one host session: forget_commands() is called when
 * a host negotiates topics, so a restarted host that counts from 1 again is obeyed.
 */
#ifndef SKYPOST_LOCKER_CELLS_H
#define SKYPOST_LOCKER_CELLS_H

#include <stdint.h>

#include "config.h"
#include "messages.h"

const uint16_t kAllCells = static_cast<uint16_t>((1UL << CELLS) - 1);

class Cells {
 public:
  enum Outcome : uint8_t { kApplied, kRepeated };

  /* Takes the latest command; the result of an applied command is last_command_result(). */
  Outcome apply(const Command& command);
  void forget_commands() { has_command_ = false; }

  /* Takes debounced sensor bits (bit i = cell i + 1); returns the fault bits that changed. */
  uint16_t update_sensors(uint16_t door_closed, uint16_t occupied, uint32_t now_ms);

  uint16_t released() const { return released_; }
  uint16_t locked() const { return kAllCells & ~released_; }
  uint16_t fault() const { return fault_; }
  uint8_t last_command_result() const { return last_result_; }

  /* Everything but uptime. */
  void fill(HardwareState* state) const;

 private:
  uint16_t released_ = 0;  /* boots with every latch engaged */
  uint16_t door_closed_ = 0;
  uint16_t occupied_ = 0;
  uint16_t fault_ = 0;
  uint16_t suspect_ = 0;   /* locked with the door open, fault once it lasts FAULT_GRACE_MS */
  uint32_t suspect_since_ms_[CELLS] = {};
  bool has_command_ = false;
  uint16_t last_seq_ = 0;
  uint8_t last_result_ = kResultOk;
};

/* Per-bit debouncer: a bit takes a new value after DEBOUNCE_SAMPLES equal samples in a row. The first sample is
   taken as it is (nothing to debounce against at boot). */
class Debouncer {
 public:
  uint16_t sample(uint16_t raw);
  uint16_t value() const { return stable_; }

 private:
  bool primed_ = false;
  uint16_t stable_ = 0;
  uint8_t count_[CELLS] = {};
};

#endif
