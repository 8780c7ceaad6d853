#!/usr/bin/env bash
# Builds a firmware of this crate for TARGET and runs it in QEMU on the
# machine of that target, returning the firmware's exit code (124: it hung).
#
#   examples/bare-metal/run.sh TARGET [BIN] [cargo args…]
#
# TARGET: thumbv6m-none-eabi (microbit, Cortex-M0), thumbv7m-none-eabi
# (lm3s6965evb, Cortex-M3) or thumbv7em-none-eabihf (mps2-an386, Cortex-M4F).
# BIN: scenario (default) or models. Extra args go to cargo (e.g.
# `--features irq-safe`). Needs qemu-system-arm and the rustup target.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: run.sh TARGET [BIN] [cargo args...]}
bin=${2:-scenario}
shift $(( $# < 2 ? $# : 2 ))
# `cargo run` starts the target's runner (.cargo/config.toml: qemu.sh
# MACHINE) and exits with its exit code.
exec cargo run --quiet --release --target "$target" --bin "$bin" "$@"
