#!/usr/bin/env bash
# Instructions per read of the `get` + deref rows of `defrag` (slice index,
# raw pointer, `Compact::get`, `PinnedAll::get`), under callgrind: each
# access runs 100,000 and 1,000,000 reads, and the difference / 900,000 is
# one read (set-up and the shared loop's fixed costs cancel; the loop's own
# per-read instructions — index load, mask, add — are in every row).
# Usage: bash benches/defrag-icount.sh      (about 90 s)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
source benches/callgrind.sh
# DEFRAG_BIN: count another build of the benchmark (say, of an older
# commit, for a before/after table) instead of building this one.
if [ -n "${DEFRAG_BIN:-}" ]; then
  bin="$DEFRAG_BIN"
else
  cargo build -q --release -p flight-mem-benches --bin defrag
  bin="$target/release/defrag"
fi
instructions() { callgrind_ir "$bin" icount "$1" "$2"; }
echo "| access | instructions per read |"
echo "|---|---:|"
for access in index raw handle_floor handle_floor16 get pin_all; do
  low=$(instructions "$access" 100000)
  high=$(instructions "$access" 1000000)
  awk -v a="$access" -v lo="$low" -v hi="$high" 'BEGIN { printf "| %s | %.2f |\n", a, (hi - lo) / 900000 }'
done
# Instructions of the defragmentation itself (inside `defragment_with`,
# copies included) against `copy_within` replaying the same moves, per MiB
# moved: seed 1 of each size distribution, until the largest free range is
# 95 % of the free bytes, then (rows "… to done") on from there to `done()`.
echo
echo "| sizes | MiB moved | defragment instructions per MiB | copy_within instructions per MiB | ratio |"
echo "|---|---:|---:|---:|---:|"
counted() { callgrind_ir "--toggle-collect=$2" "$bin" icount-moves "$1"; }
for sizes in log-uniform uniform; do
  moved=$("$bin" icount-moves "$sizes" | sed -n 's/^moved //p')
  defrag=$(counted "$sizes" '*defragment_planned*')
  copy=$(counted "$sizes" 'defrag::replay')
  awk -v s="$sizes" -v m="$moved" -v d="$defrag" -v c="$copy" 'BEGIN { mib = m / 1048576; printf "| %s | %.2f | %.0f | %.0f | %.2f× |\n", s, mib, d / mib, c / mib, d / c }'
done
for sizes in log-uniform uniform; do
  moved=$("$bin" icount-done "$sizes" | sed -n 's/^moved //p')
  defrag=$(callgrind_ir '--toggle-collect=defrag::to_done' "$bin" icount-done "$sizes")
  copy=$(callgrind_ir '--toggle-collect=defrag::replay_done' "$bin" icount-done "$sizes")
  awk -v s="$sizes" -v m="$moved" -v d="$defrag" -v c="$copy" 'BEGIN { mib = m / 1048576; printf "| %s to done | %.2f | %.0f | %.0f | %.2f× |\n", s, mib, d / mib, c / mib, d / c }'
done
