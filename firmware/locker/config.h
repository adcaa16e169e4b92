/* Build-time configuration of the locker firmware. Every value can be overridden from the make command line. */
#ifndef SKYPOST_LOCKER_CONFIG_H
#define SKYPOST_LOCKER_CONFIG_H

#ifndef CELLS
#define CELLS 8
#endif
#if CELLS < 1 || CELLS > 16
#error "CELLS must be 1..16 (the state message carries one uint16 bit mask per signal)"
#endif

#define FIRMWARE_VERSION "1.0"

#ifndef HOST_BAUD
#define HOST_BAUD 57600UL
#endif

/* rosserial link timing, as upstream rosserial devices do it. */
#define TIME_SYNC_PERIOD_MS 5000UL    /* ask the host for the time (the host's liveness check) */
#define SYNC_LOST_MS 11000UL          /* no time reply for this long: unconfigured until the host renegotiates */
#define FRAME_BODY_TIMEOUT_MS 20UL    /* a frame must be complete this long after its first byte */

/* State publishing: on change (at most every STATE_MIN_PERIOD_MS) and at least every STATE_PERIOD_MS. */
#define STATE_PERIOD_MS 1000UL
#define STATE_MIN_PERIOD_MS 20UL

/* Sensors: sampled every SENSE_PERIOD_MS; a change counts after DEBOUNCE_SAMPLES equal samples in a row. */
#define SENSE_PERIOD_MS 5UL
#define DEBOUNCE_SAMPLES 4

/* A cell commanded locked whose door stays open longer than this is reported as a fault. */
#ifndef FAULT_GRACE_MS
#define FAULT_GRACE_MS 3000UL
#endif

/* The lock registers are rewritten this often, so a glitch on their lines cannot hold a wrong output for long. */
#define LOCK_REFRESH_MS 50UL

#endif
