#!/usr/bin/env bash
# Bare metal for real (issue 15): the firmware of examples/bare-metal runs a
# memory_layout! at the real SRAM of emulated boards, and the core's model
# checks per allocator kind, under QEMU with semihosting:
#   microbit     Cortex-M0  thumbv6m-none-eabi     (no CAS: critical-section path)
#   lm3s6965evb  Cortex-M3  thumbv7m-none-eabi     (CAS: lock-free paths, spin locks;
#                                                   again with --features irq-safe)
#   mps2-an386   Cortex-M4F thumbv7em-none-eabihf
# and a `for Gba` layout on a Game Boy Advance (ARM7TDMI, thumbv4t-none-eabi,
# nightly -Zbuild-std=core) headless in mGBA (examples/bare-metal/gba).
# Each run's exit code is the firmware's (124: it hung past the timeout).
# Prints the memory maps, the stats, and the firmware sizes. ~5 minutes.
set -euo pipefail
root=$PWD

need=()
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
command -v arm-none-eabi-size >/dev/null || need+=(binutils-arm-none-eabi)
command -v mgba >/dev/null || [ -x /usr/games/mgba ] || need+=(mgba-sdl)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
targets=(thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf)
installed=$(rustup target list --installed)
for target in "${targets[@]}"; do
  grep -qx "$target" <<<"$installed" || rustup target add "$target"
done
# The GBA target has no prebuilt standard library: nightly with rust-src
# (and its clippy and rustfmt for the GBA crate).
rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
rustup component add --toolchain nightly rust-src clippy rustfmt
qemu-system-arm --version | head -1

# The crate is a workspace of its own (thumb targets only): build it into
# the repository's target directory unless one is set.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cd examples/bare-metal

echo "-- rustfmt and clippy (firmware crate)"
cargo fmt --check
for target in thumbv6m-none-eabi thumbv7m-none-eabi; do
  cargo clippy --quiet --release --target "$target" --bins -- -D warnings
done

run() {
  echo
  echo "==== $* ===="
  ./run.sh "$@"
}
for target in "${targets[@]}"; do
  run "$target" scenario
  run "$target" models
done
run thumbv7m-none-eabi scenario --features irq-safe
run thumbv7m-none-eabi models --features irq-safe

echo
echo "==== gba (mGBA) ===="
(cd gba && cargo fmt --check && cargo clippy --quiet --release -- -D warnings && ./run.sh)

echo
echo "-- firmware sizes (release; text = vector table + code + read-only data, in flash)"
for target in "${targets[@]}"; do
  # Rebuild the default-feature binaries (the irq-safe runs replaced the
  # thumbv7m ones) so the sizes are those of the plain build.
  cargo build --quiet --release --target "$target" --bins
  for bin in scenario models; do
    arm-none-eabi-size "$CARGO_TARGET_DIR/$target/release/$bin" | sed "1!s|$CARGO_TARGET_DIR/||"
  done
done
arm-none-eabi-size "$CARGO_TARGET_DIR/thumbv4t-none-eabi/release/gba-scenario" | sed "1!s|$CARGO_TARGET_DIR/||"
