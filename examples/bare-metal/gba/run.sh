#!/usr/bin/env bash
# Builds the Game Boy Advance firmware (nightly, -Zbuild-std=core), makes a
# ROM of it and runs it headless in mGBA (Debian's mgba-sdl), printing the
# firmware's debug log. mGBA never exits by itself: the firmware's last log
# line is its verdict ("…: PASS" or "…: FAIL"), which stops the emulator
# and sets the exit code (0 or 1); no verdict within MGBA_TIMEOUT seconds
# (default 60) is a hang: exit code 124.
#
#   examples/bare-metal/gba/run.sh
set -euo pipefail
cd "$(dirname "$0")"
mgba=$(command -v mgba || echo /usr/games/mgba)
cargo build --quiet --release
target_dir=${CARGO_TARGET_DIR:-target}
elf=$target_dir/thumbv4t-none-eabi/release/gba-scenario
rom=$elf.gba
arm-none-eabi-objcopy -O binary "$elf" "$rom"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy \
  timeout -k 5 "${MGBA_TIMEOUT:-60}" stdbuf -oL "$mgba" -l 255 "$rom" >"$log" 2>&1 </dev/null &
emulator=$!
verdict=""
shown=0
while :; do
  # Look for the verdict first, then print what the log holds (mGBA
  # prefixes the firmware's lines), so the verdict line is always shown.
  verdict=$(grep -oE '^GBA Debug: .*: (PASS|FAIL)$' "$log" | tail -1 || true)
  running=1
  kill -0 "$emulator" 2>/dev/null || running=0
  lines=$(wc -l <"$log")
  if [ "$lines" -gt "$shown" ]; then
    sed -n "$((shown + 1)),${lines}p" "$log" | sed 's/^GBA Debug: //'
    shown=$lines
  fi
  if [ -n "$verdict" ] || [ "$running" = 0 ]; then
    break
  fi
  sleep 0.2
done
kill "$emulator" 2>/dev/null || true
wait "$emulator" 2>/dev/null || true
case "$verdict" in
  *": PASS") exit 0 ;;
  *": FAIL") exit 1 ;;
  *)
    echo "gba/run.sh: no verdict from the firmware within ${MGBA_TIMEOUT:-60} s: a hang is a failure" >&2
    exit 124 ;;
esac
