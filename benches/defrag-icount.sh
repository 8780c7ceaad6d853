#!/usr/bin/env bash
# Instructions per read of the `get` + deref rows of `defrag` (slice index,
# raw pointer, `Compact::get`, `PinnedAll::get`), under callgrind: each
# access runs 100,000 and 1,000,000 reads, and the difference / 900,000 is
# one read (set-up and the shared loop's fixed costs cancel; the loop's own
# per-read instructions — index load, mask, add — are in every row).
# Usage: bash benches/defrag-icount.sh      (about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
command -v valgrind >/dev/null || { echo "valgrind is not installed: apt-get install valgrind"; exit 1; }
cargo build -q --release -p flight-mem-benches --bin defrag
bin="$target/release/defrag"
norandom=()
if setarch "$(uname -m)" -R true 2>/dev/null; then norandom=(setarch "$(uname -m)" -R); fi
instructions() {
  "${norandom[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" icount "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "| access | instructions per read |"
echo "|---|---:|"
for access in index raw handle_floor handle_floor16 get pin_all; do
  low=$(instructions "$access" 100000)
  high=$(instructions "$access" 1000000)
  awk -v a="$access" -v lo="$low" -v hi="$high" 'BEGIN { printf "| %s | %.2f |\n", a, (hi - lo) / 900000 }'
done
