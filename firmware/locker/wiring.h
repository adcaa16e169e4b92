/*
 * Locker controller wiring: ATmega328P (Arduino Uno / Nano) at 16 MHz.
 *
 * Shared by the firmware and the simavr harness (firmware/simavr), which emulates the shift registers on exactly
 * these pins. firmware/README.md has the full wiring table and the reasoning behind it.
 *
 * Locks go through a chain of 74HC595 (8 cells per chip); door reed switches and infrared occupancy sensors are read
 * through a chain of 74HC165. Seven pins serve any cell count up to 16, which direct pins could not: 16 lock pins +
 * 3 sensor-chain pins would need 19 of the 18 free digital pins (D0/D1 carry the host link).
 *
 * Electrical levels (the firmware turns them into the meanings of LockerHardwareState):
 *   lock output (74HC595 Qn)  HIGH = actuator energised = latch released (cell open); LOW = latch engaged.
 *                             /OE has a 10k pull-up and every actuator driver input a pull-down, so a cell stays
 *                             engaged while the MCU is in reset, is booting, or has been reset by the watchdog.
 *   door input (74HC165 Dn)   reed switch to GND with a 10k pull-up: LOW = door closed; HIGH = open (or wire cut).
 *   IR input  (74HC165 Dn)    open-collector IR module, active low with a 10k pull-up: LOW = parcel seen.
 */
#ifndef SKYPOST_LOCKER_WIRING_H
#define SKYPOST_LOCKER_WIRING_H

/* Each pin: port letter (as a character) and bit. Arduino names in the comments. */
#define WIRING_LOCK_DATA_PORT 'B'      /* D8:  74HC595 SER (pin 14) of the first lock register */
#define WIRING_LOCK_DATA_BIT 0
#define WIRING_LOCK_CLOCK_PORT 'B'     /* D9:  74HC595 SRCLK (pin 11), all lock registers */
#define WIRING_LOCK_CLOCK_BIT 1
#define WIRING_LOCK_LATCH_PORT 'B'     /* D10: 74HC595 RCLK (pin 12), all lock registers */
#define WIRING_LOCK_LATCH_BIT 2
#define WIRING_LOCK_ENABLE_N_PORT 'D'  /* D7:  74HC595 /OE (pin 13), all lock registers, 10k pull-up to 5 V */
#define WIRING_LOCK_ENABLE_N_BIT 7
#define WIRING_SENSE_LOAD_N_PORT 'D'   /* D4:  74HC165 /PL (pin 1), all sensor registers */
#define WIRING_SENSE_LOAD_N_BIT 4
#define WIRING_SENSE_CLOCK_PORT 'D'    /* D5:  74HC165 CP (pin 2), all sensor registers */
#define WIRING_SENSE_CLOCK_BIT 5
#define WIRING_SENSE_DATA_PORT 'D'     /* D6:  74HC165 Q7 (pin 9) of the sensor register nearest the MCU */
#define WIRING_SENSE_DATA_BIT 6
#define WIRING_STATUS_LED_PORT 'B'     /* D13: status LED (on-board on Uno/Nano): lit while the host is in sync */
#define WIRING_STATUS_LED_BIT 5

/*
 * Chain layout for N cells, K = ceil(N / 8) chips per function:
 *   lock chain:   K x 74HC595. Chip 0 takes SER from the MCU; chip k output Qj drives cell 8k + j + 1.
 *                 The MCU shifts the bit of the last output (chip K-1, Q7) first and cell 1 last, then pulses RCLK.
 *   sensor chain: 2K x 74HC165. Chip 0's Q7 goes to the MCU; chip k's DS takes chip k+1's Q7; the last DS is tied to
 *                 GND. Chips 0..K-1 read doors, chips K..2K-1 read IR sensors: chip k input Dj is
 *                 door of cell 8k + j + 1 (k < K) or IR of cell 8(k - K) + j + 1 (k >= K).
 *                 After /PL the MCU reads Q7 (chip 0, D7), then each CP rising edge brings the next bit:
 *                 chip 0 D7..D0, chip 1 D7..D0, and so on.
 */
#define WIRING_CHIPS_PER_FUNCTION(cells) (((cells) + 7) / 8)

#endif
