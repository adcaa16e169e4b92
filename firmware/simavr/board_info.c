#include "board_info.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void parse(const char *text, size_t size, board_info_t *info) {
  char copy[256];
  const size_t length = size < sizeof(copy) - 1 ? size : sizeof(copy) - 1;
  memcpy(copy, text, length);
  copy[length] = '\0';
  char *saved = NULL;
  for (char *line = strtok_r(copy, "\n", &saved); line; line = strtok_r(NULL, "\n", &saved)) {
    char *value = strchr(line, '=');
    if (!value) continue;
    *value++ = '\0';
    if (strcmp(line, "mcu") == 0) snprintf(info->mcu, sizeof(info->mcu), "%s", value);
    else if (strcmp(line, "cells") == 0) info->cells = atoi(value);
    else if (strcmp(line, "f_cpu") == 0) info->f_cpu = (uint32_t)strtoul(value, NULL, 10);
  }
}

int board_info_read(const char *elf_path, board_info_t *info) {
  if (elf_version(EV_CURRENT) == EV_NONE) return -1;
  const int fd = open(elf_path, O_RDONLY);
  if (fd < 0) return -1;
  int result = -1;
  Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
  size_t names = 0;
  if (elf && elf_getshdrstrndx(elf, &names) == 0) {
    for (Elf_Scn *section = elf_nextscn(elf, NULL); section; section = elf_nextscn(elf, section)) {
      GElf_Shdr header;
      if (!gelf_getshdr(section, &header)) continue;
      const char *name = elf_strptr(elf, names, header.sh_name);
      if (!name || strcmp(name, ".skypost.board") != 0) continue;
      Elf_Data *data = elf_getdata(section, NULL);
      if (data && data->d_buf) {
        parse(data->d_buf, data->d_size, info);
        result = 0;
      }
      break;
    }
  }
  if (elf) elf_end(elf);
  close(fd);
  return result;
}
