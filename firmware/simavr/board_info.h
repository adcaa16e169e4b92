/* The board description the firmware leaves in its ELF (section .skypost.board: "mcu=...\ncells=...\nf_cpu=...\n"). */
#ifndef SKYPOST_SIM_BOARD_INFO_H
#define SKYPOST_SIM_BOARD_INFO_H

#include <stdint.h>

typedef struct board_info {
  char mcu[32];
  int cells;
  uint32_t f_cpu;
} board_info_t;

/* 0 when the section was found and parsed; fields absent from it are left untouched. */
int board_info_read(const char *elf_path, board_info_t *info);

#endif
