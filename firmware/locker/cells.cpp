#include "cells.h"

Cells::Outcome Cells::apply(const Command& command) {
  if (has_command_ && command.seq == last_seq_) return kRepeated;

  const bool cell_valid = command.cell_id >= 1 && command.cell_id <= CELLS;
  const uint16_t bit = cell_valid ? static_cast<uint16_t>(1U << (command.cell_id - 1)) : 0;
  uint8_t result = kResultOk;
  switch (command.command) {
    case kCommandUnlock:
      if (cell_valid) released_ |= bit;
      else result = kResultBadCell;
      break;
    case kCommandLock:
      if (cell_valid) released_ &= ~bit;
      else result = kResultBadCell;
      break;
    case kCommandLockAll:
      released_ = 0;
      break;
    default:
      result = kResultBadCommand;
      break;
  }
  has_command_ = true;
  last_seq_ = command.seq;
  last_result_ = result;
  return kApplied;
}

uint16_t Cells::update_sensors(uint16_t door_closed, uint16_t occupied, uint32_t now_ms) {
  door_closed_ = door_closed & kAllCells;
  occupied_ = occupied & kAllCells;

  const uint16_t suspect = locked() & ~door_closed_;
  uint16_t fault = fault_ & suspect;
  for (uint8_t i = 0; i < CELLS; ++i) {
    const uint16_t bit = 1U << i;
    if (!(suspect & bit)) continue;
    if (!(suspect_ & bit)) suspect_since_ms_[i] = now_ms;
    else if (now_ms - suspect_since_ms_[i] >= FAULT_GRACE_MS) fault |= bit;
  }
  suspect_ = suspect;
  const uint16_t changed = fault ^ fault_;
  fault_ = fault;
  return changed;
}

void Cells::fill(HardwareState* state) const {
  state->cell_count = CELLS;
  state->locked = locked();
  state->door_closed = door_closed_;
  state->occupied = occupied_;
  state->fault = fault_;
  state->last_command_seq = has_command_ ? last_seq_ : 0;
  state->last_command_result = last_result_;
}

uint16_t Debouncer::sample(uint16_t raw) {
  if (!primed_) {
    primed_ = true;
    stable_ = raw;
    return stable_;
  }
  for (uint8_t i = 0; i < CELLS; ++i) {
    const uint16_t bit = 1U << i;
    if ((raw ^ stable_) & bit) {
      if (++count_[i] >= DEBOUNCE_SAMPLES) {
        stable_ ^= bit;
        count_[i] = 0;
      }
    } else {
      count_[i] = 0;
    }
  }
  return stable_;
}
