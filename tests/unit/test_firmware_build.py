"""The locker firmware builds with Debian's AVR toolchain, fits an ATmega328P and names the right message md5sums."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
genmsg = pytest.importorskip("genmsg")
from genmsg import msg_loader  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
ELF = FIRMWARE / "locker" / "build" / "locker.elf"
HEX = FIRMWARE / "locker" / "build" / "locker.hex"
HARNESS = FIRMWARE / "simavr" / "build" / "locker_sim"
FLASH_BUDGET = 32256  # 32 KB minus the 512-byte Optiboot bootloader of an Uno/Nano
RAM_BUDGET = 1500  # of 2048 bytes: the rest is stack
MAKE_TIMEOUT = 600  # the machine is shared; a full core build takes a while there


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", *args], capture_output=True, text=True, timeout=MAKE_TIMEOUT)


def avr_size(elf: Path) -> dict[str, int]:
    """Berkeley format: text data bss dec hex filename."""
    output = subprocess.run(["avr-size", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(value) for value in output.splitlines()[1].split()[:3])
    return {"flash": text + data, "ram": data + bss}


def board_section(elf: Path) -> dict[str, str]:
    output = subprocess.run(["avr-objcopy", "-O", "binary", "--set-section-flags", ".skypost.board=alloc",
                             "-j", ".skypost.board", str(elf), "/dev/stdout"],
                            capture_output=True, check=True).stdout
    text = output.split(b"\0")[0].decode()
    return dict(line.split("=", 1) for line in text.splitlines())


def msg_md5(name: str) -> str:
    context = msg_loader.MsgContext.create_default()
    spec = msg_loader.load_msg_from_file(context, str(ROOT / "msg" / f"{name}.msg"), f"skypost/{name}")
    return genmsg.compute_md5(context, spec)


@pytest.fixture(scope="module")
def build_output() -> str:
    result = make("-C", str(FIRMWARE))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_build_produces_firmware_and_harness(build_output):
    assert ELF.is_file()
    assert HARNESS.is_file() and HARNESS.stat().st_mode & 0o111
    records = HEX.read_text().split()
    assert all(record.startswith(":") for record in records)
    assert records[-1] == ":00000001FF"  # Intel HEX end-of-file record
    assert re.search(r"Program:\s+\d+ bytes", build_output), "the build prints the firmware's size"


def test_firmware_fits_the_atmega328p(build_output):
    size = avr_size(ELF)
    assert 2000 < size["flash"] < FLASH_BUDGET
    assert 0 < size["ram"] < RAM_BUDGET
    printed = re.search(r"Program:\s+(\d+) bytes.*?Data:\s+(\d+) bytes", build_output, re.S)
    assert printed and (int(printed[1]), int(printed[2])) == (size["flash"], size["ram"])


def test_second_build_rebuilds_nothing(build_output):
    before = (ELF.stat().st_mtime_ns, HEX.stat().st_mtime_ns, HARNESS.stat().st_mtime_ns)
    again = make("-C", str(FIRMWARE))
    assert again.returncode == 0, again.stdout + again.stderr
    assert not re.search(r"^\s+(CC|CXX|AS|AR|LD|HEX)\s", again.stdout, re.M), again.stdout
    assert (ELF.stat().st_mtime_ns, HEX.stat().st_mtime_ns, HARNESS.stat().st_mtime_ns) == before
    assert "Program:" in again.stdout


def test_firmware_names_the_messages_md5sums():
    """The firmware serializes both messages by hand: a .msg change must fail here until it is updated too."""
    header = (FIRMWARE / "locker" / "messages.h").read_text()
    defines = dict(re.findall(r'#define (LOCKER_\w+) "([^"]+)"', header))
    for name, prefix in (("LockerHardwareState", "LOCKER_HARDWARE_STATE"), ("LockerCommand", "LOCKER_COMMAND")):
        assert defines[f"{prefix}_TYPE"] == f"skypost/{name}"
        assert defines[f"{prefix}_MD5"] == msg_md5(name), f"{name} changed: update firmware/locker/messages.*"


def test_board_description_travels_in_the_elf_not_the_flash(build_output):
    assert board_section(ELF) == {"mcu": "atmega328p", "cells": "8", "f_cpu": "16000000UL"}
    assert b"cells=" not in bytes.fromhex("".join(line[9:-2] for line in HEX.read_text().split()))


def test_cell_count_is_a_build_flag():
    build = FIRMWARE / "locker" / "build" / "cells16"  # shared with test_firmware_in_loop's 16-cell board
    result = make("-C", str(FIRMWARE / "locker"), f"BUILD={build}", "CELLS=16")
    assert result.returncode == 0, result.stdout + result.stderr
    assert board_section(build / "locker.elf")["cells"] == "16"
    size = avr_size(build / "locker.elf")
    assert size["flash"] < FLASH_BUDGET and size["ram"] < RAM_BUDGET


@pytest.mark.parametrize("cells", ["0", "17"])
def test_cell_count_outside_1_to_16_is_refused(tmp_path, cells):
    result = make("-C", str(FIRMWARE / "locker"), f"BUILD={tmp_path}", f"CELLS={cells}")
    assert result.returncode != 0
    assert "CELLS must be 1..16" in result.stderr
