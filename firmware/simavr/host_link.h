/*
 * The MCU's UART0 on a pseudo-terminal: what the host opens as the board's serial port.
 *
 * Bytes from the host reach the UART at the line rate (one byte per byte-time of simulated time, 10 bits at the
 * firmware's baud rate) and never while the UART reports its input FIFO full, as on a real wire. Bytes from the
 * firmware go to the pty as they are sent. The harness holds the pty's slave side open too, so the device survives
 * hosts coming and going; bytes nobody reads are discarded beyond a small backlog, like a wire with no listener.
 */
#ifndef SKYPOST_SIM_HOST_LINK_H
#define SKYPOST_SIM_HOST_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sim_avr.h>

#define HOST_LINK_BUFFER 4096

typedef struct byte_queue {
  uint8_t data[HOST_LINK_BUFFER];
  size_t head;  /* next to take */
  size_t count;
} byte_queue_t;

typedef struct host_link {
  avr_t *avr;
  int master_fd;
  int slave_fd;
  char slave_path[128];
  char link_path[512];  /* optional symlink to slave_path */
  struct avr_irq_t *uart_input;
  avr_cycle_count_t cycles_per_byte;
  bool feeding;     /* the byte-time timer is armed */
  bool input_full;  /* the UART said XOFF */
  byte_queue_t to_mcu;
  byte_queue_t to_host;
} host_link_t;

/* Opens the pty (raw), symlinks `link_path` to it when given, and wires it to UART0. 0 on success. */
int host_link_open(host_link_t *link, avr_t *avr, uint32_t baud, const char *link_path);
/* The fd to poll for host data, and whether output is waiting (poll POLLOUT). */
int host_link_fd(const host_link_t *link);
bool host_link_has_output(const host_link_t *link);
/* Moves bytes between the pty and the queues; call when poll says so (or every loop). */
void host_link_service(host_link_t *link);
/* The MCU was reset: its cycle timers are gone. */
void host_link_mcu_reset(host_link_t *link);
void host_link_close(host_link_t *link);

#endif
