#define _GNU_SOURCE
#include "host_link.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <avr_uart.h>
#include <sim_cycle_timers.h>
#include <sim_irq.h>

/* Bytes waiting in the pty for a reader before they count as unread and are dropped (about 10 s of state). */
#define STALE_BACKLOG 1024

static void queue_push(byte_queue_t *queue, uint8_t byte) {
  queue->data[(queue->head + queue->count) % HOST_LINK_BUFFER] = byte;
  ++queue->count;
}

static uint8_t queue_pop(byte_queue_t *queue) {
  const uint8_t byte = queue->data[queue->head];
  queue->head = (queue->head + 1) % HOST_LINK_BUFFER;
  --queue->count;
  return byte;
}

static avr_cycle_count_t feed_next_byte(avr_t *avr, avr_cycle_count_t when, void *param) {
  (void)avr;
  host_link_t *link = param;
  if (!link->input_full && link->to_mcu.count > 0) avr_raise_irq(link->uart_input, queue_pop(&link->to_mcu));
  if (link->to_mcu.count == 0) {
    link->feeding = false;
    return 0;
  }
  return when + link->cycles_per_byte;
}

static void start_feeding(host_link_t *link) {
  if (link->feeding || link->to_mcu.count == 0) return;
  link->feeding = true;
  avr_cycle_timer_register(link->avr, link->cycles_per_byte, feed_next_byte, link);
}

static void on_uart_output(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  host_link_t *link = param;
  if (link->to_host.count == HOST_LINK_BUFFER) queue_pop(&link->to_host);  /* the oldest byte is lost, as on a wire */
  queue_push(&link->to_host, (uint8_t)value);
}

static void on_uart_xon(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  (void)value;
  host_link_t *link = param;
  link->input_full = false;
}

static void on_uart_xoff(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  host_link_t *link = param;
  if (value) link->input_full = true;
}

static int make_link(const char *link_path, const char *target) {
  struct stat st;
  if (lstat(link_path, &st) == 0) {
    if (!S_ISLNK(st.st_mode)) {
      fprintf(stderr, "locker_sim: %s exists and is not a symlink, refusing to replace it\n", link_path);
      return -1;
    }
    unlink(link_path);
  }
  if (symlink(target, link_path) != 0) {
    fprintf(stderr, "locker_sim: symlink %s -> %s: %s\n", link_path, target, strerror(errno));
    return -1;
  }
  return 0;
}

int host_link_open(host_link_t *link, avr_t *avr, uint32_t baud, const char *link_path) {
  memset(link, 0, sizeof(*link));
  link->avr = avr;
  link->master_fd = -1;
  link->slave_fd = -1;
  if (openpty(&link->master_fd, &link->slave_fd, link->slave_path, NULL, NULL) != 0) {
    fprintf(stderr, "locker_sim: openpty: %s\n", strerror(errno));
    return -1;
  }
  struct termios raw;
  tcgetattr(link->slave_fd, &raw);
  cfmakeraw(&raw);  /* no echo, no line editing: the AVR's bytes must come back to nobody */
  tcsetattr(link->slave_fd, TCSANOW, &raw);
  fcntl(link->master_fd, F_SETFL, fcntl(link->master_fd, F_GETFL) | O_NONBLOCK);
  fcntl(link->master_fd, F_SETFD, FD_CLOEXEC);
  fcntl(link->slave_fd, F_SETFD, FD_CLOEXEC);
  if (link_path && *link_path) {
    if (make_link(link_path, link->slave_path) != 0) return -1;
    snprintf(link->link_path, sizeof(link->link_path), "%s", link_path);
  }

  /* 10 bits a byte (start, 8 data, stop). */
  link->cycles_per_byte = (avr_cycle_count_t)avr->frequency * 10 / baud;

  uint32_t flags = 0;
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);  /* no console copy, no usleep in polls */
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  link->uart_input = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), on_uart_output, link);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), on_uart_xon, link);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), on_uart_xoff, link);
  return 0;
}

int host_link_fd(const host_link_t *link) { return link->master_fd; }

bool host_link_has_output(const host_link_t *link) { return link->to_host.count > 0; }

static void read_from_host(host_link_t *link) {
  uint8_t buffer[256];
  while (link->to_mcu.count < HOST_LINK_BUFFER) {
    size_t room = HOST_LINK_BUFFER - link->to_mcu.count;
    const ssize_t got = read(link->master_fd, buffer, room < sizeof(buffer) ? room : sizeof(buffer));
    if (got <= 0) break;
    for (ssize_t i = 0; i < got; ++i) queue_push(&link->to_mcu, buffer[i]);
  }
  start_feeding(link);
}

static void write_to_host(host_link_t *link) {
  while (link->to_host.count > 0) {
    const size_t contiguous = HOST_LINK_BUFFER - link->to_host.head;
    const size_t size = link->to_host.count < contiguous ? link->to_host.count : contiguous;
    const ssize_t sent = write(link->master_fd, link->to_host.data + link->to_host.head, size);
    if (sent <= 0) break;
    link->to_host.head = (link->to_host.head + (size_t)sent) % HOST_LINK_BUFFER;
    link->to_host.count -= (size_t)sent;
  }
  /* Nobody reading (no host, or a host that stopped): drop the backlog instead of serving it stale later. */
  int unread = 0;
  if (ioctl(link->slave_fd, FIONREAD, &unread) == 0 && unread > STALE_BACKLOG) tcflush(link->slave_fd, TCIFLUSH);
}

void host_link_service(host_link_t *link) {
  read_from_host(link);
  if (link->to_host.count > 0) write_to_host(link);
}

void host_link_mcu_reset(host_link_t *link) {
  link->feeding = false;  /* avr_reset cancelled every cycle timer */
  link->input_full = false;
}

void host_link_close(host_link_t *link) {
  if (link->link_path[0]) unlink(link->link_path);
  if (link->master_fd >= 0) close(link->master_fd);
  if (link->slave_fd >= 0) close(link->slave_fd);
  link->master_fd = link->slave_fd = -1;
}
