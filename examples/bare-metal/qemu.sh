#!/usr/bin/env bash
# Cargo runner: qemu.sh MACHINE ELF — boots ELF on QEMU's MACHINE with
# semihosting on the host (the firmware's output and exit code), and exits
# with the firmware's code. A firmware that never exits is a failure: after
# QEMU_TIMEOUT seconds (default 60) QEMU is stopped and the code is 124.
set -euo pipefail
machine=${1:?usage: qemu.sh MACHINE ELF}
elf=${2:?usage: qemu.sh MACHINE ELF}
status=0
timeout -k 5 "${QEMU_TIMEOUT:-60}" \
  qemu-system-arm -M "$machine" -nographic -monitor none \
    -semihosting-config enable=on,target=native -kernel "$elf" </dev/null || status=$?
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
  echo "qemu.sh: $(basename "$elf") on $machine did not exit within ${QEMU_TIMEOUT:-60} s: a hang is a failure" >&2
  exit 124
fi
exit "$status"
