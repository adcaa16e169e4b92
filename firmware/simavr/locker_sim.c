/*
 * locker_sim: the locker firmware in the loop. Runs the built ELF on simavr at real time, puts its UART on a
 * pseudo-terminal for the rosserial host, emulates the board around it (board_model.c), and takes commands on stdin.
 *
 *   locker_sim [--pty-link PATH] [--auto-door] [--door-delay-ms MS] [--cells N] [--mcu NAME] [--freq HZ]
 *              [--baud BAUD] firmware.elf
 *
 * stdout is the control channel (firmware/README.md): first line "PTY <path>", then "board ...", then "ready";
 * afterwards one reply line per command and event lines ("lock <cell> locked|unlocked", "door <cell> open|closed",
 * "reset") as things happen. simavr's own messages go to stderr. The harness exits on "quit", on end of stdin,
 * or on SIGINT/SIGTERM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sim_avr.h>
#include <sim_elf.h>
#include <sim_regbit.h>

#include "board_info.h"
#include "board_model.h"
#include "host_link.h"

#define SLICE_NS 1000000ULL      /* run the AVR in 1 ms slices of simulated time */
#define MAX_LAG_NS 250000000ULL  /* further behind the wall clock than this: give up catching up */

typedef struct options {
  const char *elf;
  const char *pty_link;
  const char *mcu;
  uint32_t frequency;
  uint32_t baud;
  int cells;
  bool auto_door;
  long door_delay_ms;
} options_t;

typedef struct simulator {
  avr_t *avr;
  board_model_t board;
  host_link_t link;
  FILE *control;  /* the real stdout */
  void (*chip_reset)(avr_t *avr);
  char command[256];
  size_t command_length;
  bool stdin_open;
  uint64_t sim_ns;
} simulator_t;

static simulator_t sim;
static volatile sig_atomic_t stop_requested;

static void on_signal(int signal_number) {
  (void)signal_number;
  stop_requested = 1;
}

static uint64_t wall_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}

static void emit(const char *format, ...) {
  va_list args;
  va_start(args, format);
  vfprintf(sim.control, format, args);
  va_end(args);
  fputc('\n', sim.control);
  fflush(sim.control);
}

static void simavr_logger(avr_t *avr, const int level, const char *format, va_list args) {
  (void)avr;
  if (level > LOG_WARNING) return;
  fputs("simavr: ", stderr);
  vfprintf(stderr, format, args);
}

/* simavr sleep: a sleeping AVR only skips cycles; the main loop keeps the pace against the wall clock. */
static void no_wall_sleep(avr_t *avr, avr_cycle_count_t how_long) {
  (void)avr;
  (void)how_long;
}

static void on_mcu_reset(avr_t *avr) {
  if (sim.chip_reset) sim.chip_reset(avr);
  board_mcu_reset(&sim.board);
  host_link_mcu_reset(&sim.link);
  emit("reset");
}

static void on_lock_changed(void *context, int cell, bool locked) {
  (void)context;
  emit("lock %d %s", cell, locked ? "locked" : "unlocked");
}

static void on_door_changed(void *context, int cell, bool open) {
  (void)context;
  emit("door %d %s", cell, open ? "open" : "closed");
}

/* ---- control channel ---------------------------------------------------------------------------------------- */

static bool parse_cell(const char *text, int *cell) {
  char *end = NULL;
  const long value = text ? strtol(text, &end, 10) : 0;
  if (!text || *end || value < 1 || value > sim.board.cells) return false;
  *cell = (int)value;
  return true;
}

/* Picks `choices[i]` matching `text`; -1 when none does. */
static int parse_choice(const char *text, const char *const choices[2]) {
  for (int i = 0; i < 2; ++i)
    if (text && strcmp(text, choices[i]) == 0) return i;
  return -1;
}

static void command_door(const char *cell_text, const char *value_text) {
  static const char *const values[2] = {"closed", "open"};
  int cell = 0;
  const int open = parse_choice(value_text, values);
  if (!parse_cell(cell_text, &cell) || open < 0) {
    emit("error usage: door <1..%d> open|closed", sim.board.cells);
    return;
  }
  board_set_door(&sim.board, cell, open == 1);
  emit("ok door %d %s", cell, values[open]);
}

static void command_ir(const char *cell_text, const char *value_text) {
  static const char *const values[2] = {"0", "1"};
  int cell = 0;
  const int present = parse_choice(value_text, values);
  if (!parse_cell(cell_text, &cell) || present < 0) {
    emit("error usage: ir <1..%d> 1|0", sim.board.cells);
    return;
  }
  board_set_occupied(&sim.board, cell, present == 1);
  emit("ok ir %d %s", cell, values[present]);
}

static void command_get(const char *unused_first, const char *unused_second) {
  (void)unused_first;
  (void)unused_second;
  emit("state locked=0x%04x door_closed=0x%04x occupied=0x%04x", board_locked(&sim.board),
       board_door_closed(&sim.board), sim.board.occupied);
}

static void command_reset(const char *unused_first, const char *unused_second) {
  (void)unused_first;
  (void)unused_second;
  avr_reset(sim.avr);  /* the "reset" event comes from on_mcu_reset */
  if (sim.avr->reset_flags.extrf.reg) avr_regbit_set(sim.avr, sim.avr->reset_flags.extrf);  /* as the RESET pin */
  emit("ok reset");
}

static void command_quit(const char *unused_first, const char *unused_second) {
  (void)unused_first;
  (void)unused_second;
  stop_requested = 1;
  emit("ok quit");
}

static const struct {
  const char *verb;
  void (*handle)(const char *first, const char *second);
} commands[] = {
    {"door", command_door}, {"ir", command_ir}, {"get", command_get}, {"reset", command_reset}, {"quit", command_quit},
};

static void handle_command(char *line) {
  char *saved = NULL;
  const char *verb = strtok_r(line, " \t\r", &saved);
  const char *first = strtok_r(NULL, " \t\r", &saved);
  const char *second = strtok_r(NULL, " \t\r", &saved);
  if (!verb) return;
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); ++i) {
    if (strcmp(verb, commands[i].verb) == 0) {
      commands[i].handle(first, second);
      return;
    }
  }
  emit("error unknown command %s (door, ir, get, reset, quit)", verb);
}

static void read_commands(void) {
  char buffer[256];
  const ssize_t got = read(STDIN_FILENO, buffer, sizeof(buffer));
  if (got == 0) {
    sim.stdin_open = false;  /* our parent is gone */
    stop_requested = 1;
    return;
  }
  for (ssize_t i = 0; i < got; ++i) {
    if (buffer[i] == '\n') {
      sim.command[sim.command_length] = '\0';
      handle_command(sim.command);
      sim.command_length = 0;
    } else if (sim.command_length < sizeof(sim.command) - 1) {
      sim.command[sim.command_length++] = buffer[i];
    }
  }
}

/* ---- set-up and main loop ----------------------------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: locker_sim [--pty-link PATH] [--auto-door] [--door-delay-ms MS] [--cells N] [--mcu NAME]\n"
          "                  [--freq HZ] [--baud BAUD] firmware.elf\n");
}

static int parse_options(int argc, char **argv, options_t *options) {
  static const struct option long_options[] = {
      {"pty-link", required_argument, NULL, 'l'}, {"auto-door", no_argument, NULL, 'a'},
      {"door-delay-ms", required_argument, NULL, 'd'}, {"cells", required_argument, NULL, 'c'},
      {"mcu", required_argument, NULL, 'm'}, {"freq", required_argument, NULL, 'f'},
      {"baud", required_argument, NULL, 'b'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  int option;
  while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
    switch (option) {
      case 'l': options->pty_link = optarg; break;
      case 'a': options->auto_door = true; break;
      case 'd': options->door_delay_ms = strtol(optarg, NULL, 10); break;
      case 'c': options->cells = atoi(optarg); break;
      case 'm': options->mcu = optarg; break;
      case 'f': options->frequency = (uint32_t)strtoul(optarg, NULL, 10); break;
      case 'b': options->baud = (uint32_t)strtoul(optarg, NULL, 10); break;
      default: usage(); return -1;
    }
  }
  if (optind != argc - 1) {
    usage();
    return -1;
  }
  options->elf = argv[optind];
  return 0;
}

static int set_up(options_t *options) {
  /* Keep stdout for the control channel; anything the library prints goes to stderr. */
  sim.control = fdopen(dup(STDOUT_FILENO), "w");
  dup2(STDERR_FILENO, STDOUT_FILENO);
  avr_global_logger_set(simavr_logger);

  elf_firmware_t firmware;
  memset(&firmware, 0, sizeof(firmware));
  if (elf_read_firmware(options->elf, &firmware) != 0) {
    fprintf(stderr, "locker_sim: cannot load %s\n", options->elf);
    return -1;
  }
  board_info_t info = {.mcu = "atmega328p", .cells = 8, .f_cpu = 16000000};
  if (board_info_read(options->elf, &info) != 0)
    fprintf(stderr, "locker_sim: %s has no .skypost.board section, assuming %s, %d cells, %u Hz\n", options->elf,
            info.mcu, info.cells, info.f_cpu);
  const char *mcu = options->mcu ? options->mcu : info.mcu;
  const int cells = options->cells ? options->cells : info.cells;
  firmware.frequency = options->frequency ? options->frequency : info.f_cpu;
  if (cells < 1 || cells > BOARD_MAX_CELLS) {
    fprintf(stderr, "locker_sim: cells must be 1..%d\n", BOARD_MAX_CELLS);
    return -1;
  }

  sim.avr = avr_make_mcu_by_name(mcu);
  if (!sim.avr) {
    fprintf(stderr, "locker_sim: simavr does not know the mcu %s\n", mcu);
    return -1;
  }
  avr_init(sim.avr);
  sim.avr->log = LOG_WARNING;
  avr_load_firmware(sim.avr, &firmware);
  sim.avr->frequency = firmware.frequency;
  sim.avr->sleep = no_wall_sleep;
  sim.chip_reset = sim.avr->reset;
  sim.avr->reset = on_mcu_reset;

  const board_events_t events = {on_lock_changed, on_door_changed, NULL};
  board_init(&sim.board, sim.avr, cells, events);
  sim.board.auto_door = options->auto_door;
  sim.board.door_delay_ns = (uint64_t)options->door_delay_ms * 1000000ULL;
  if (host_link_open(&sim.link, sim.avr, options->baud, options->pty_link) != 0) return -1;

  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  sim.stdin_open = true;
  emit("PTY %s", sim.link.slave_path);
  emit("board cells=%d mcu=%s f_cpu=%u baud=%u auto_door=%d", cells, mcu, sim.avr->frequency, options->baud,
       options->auto_door ? 1 : 0);
  emit("ready");
  return 0;
}

/* Services stdin and the pty, waiting up to `timeout_ms` for either. */
static void service_io(int timeout_ms) {
  struct pollfd fds[2] = {
      {.fd = host_link_fd(&sim.link), .events = POLLIN | (host_link_has_output(&sim.link) ? POLLOUT : 0)},
      {.fd = sim.stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
  };
  if (poll(fds, 2, timeout_ms) < 0 && errno != EINTR) return;
  host_link_service(&sim.link);
  if (fds[1].revents & (POLLIN | POLLHUP)) read_commands();
}

static int run(void) {
  const uint64_t slice_cycles = (uint64_t)sim.avr->frequency * SLICE_NS / 1000000000ULL;
  uint64_t wall_start = wall_ns();
  uint64_t last_lag_warning = 0;
  avr_cycle_count_t last_cycle = sim.avr->cycle;
  uint64_t cycles = 0;  /* simulated cycles since start, across MCU resets (which zero avr->cycle) */

  while (!stop_requested) {
    const avr_cycle_count_t target = sim.avr->cycle + slice_cycles;
    while (sim.avr->cycle < target) {
      const int state = avr_run(sim.avr);
      if (state == cpu_Done || state == cpu_Crashed) {
        fprintf(stderr, "locker_sim: the firmware %s\n", state == cpu_Done ? "stopped" : "crashed");
        emit("error firmware %s", state == cpu_Done ? "stopped" : "crashed");
        return 1;
      }
      if (sim.avr->cycle < last_cycle) break;  /* reset inside the slice */
    }
    cycles += sim.avr->cycle >= last_cycle ? sim.avr->cycle - last_cycle : sim.avr->cycle;
    last_cycle = sim.avr->cycle;
    sim.sim_ns = cycles * 1000000000ULL / sim.avr->frequency;
    board_tick(&sim.board, sim.sim_ns);

    const uint64_t wall = wall_ns() - wall_start;
    int timeout_ms = 0;
    if (sim.sim_ns > wall + SLICE_NS) {
      timeout_ms = (int)((sim.sim_ns - wall) / 1000000ULL);
    } else if (wall > sim.sim_ns + MAX_LAG_NS) {
      wall_start += wall - sim.sim_ns;  /* a loaded machine: slip instead of racing to catch up */
      if (wall - last_lag_warning > 10000000000ULL) {
        fprintf(stderr, "locker_sim: running behind real time, slipping\n");
        last_lag_warning = wall;
      }
    }
    service_io(timeout_ms);
  }
  return 0;
}

int main(int argc, char **argv) {
  options_t options = {.baud = 57600, .door_delay_ms = 500};
  if (parse_options(argc, argv, &options) != 0) return 2;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  if (set_up(&options) != 0) return 1;
  const int status = run();
  host_link_close(&sim.link);
  return status;
}
