/* The locker board's I/O: lock register chain (74HC595), sensor register chain (74HC165), status LED. */
#ifndef SKYPOST_LOCKER_BOARD_H
#define SKYPOST_LOCKER_BOARD_H

#include <stdint.h>

struct SensorSample {
  uint16_t door_closed;  /* bit i: cell i + 1's door is closed */
  uint16_t occupied;     /* bit i: cell i + 1's IR sensor sees a parcel */
};

namespace board {

/* Drives every lock engaged, then enables the lock register outputs. Call first thing at boot. */
void begin();
/* Bit i HIGH releases cell i + 1's latch. */
void write_locks(uint16_t released);
SensorSample read_sensors();
void set_status_led(bool on);

}  // namespace board

#endif
