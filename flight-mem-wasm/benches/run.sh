#!/usr/bin/env bash
# Speed of flight-rebase on large real modules nobody here wrote: the .wasm
# files shipped in the npm packages @swc/wasm and esbuild-wasm, fetched into
# a temporary directory (never committed), side by side with a byte copy, a
# bare wasmparser operator scan, Binaryen's wasm-opt (Debian's binaryen)
# and the peer, Binaryen's multi-memory-lowering (the npm `binaryen` package,
# pinned; Debian's 108 lacks the pass), in one run; then the run-time cost
# of isolation in wasmi, flight-rebase's modes next to Binaryen's lowering.
# Usage: bash flight-mem-wasm/benches/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! command -v wasm-opt >/dev/null 2>&1; then
  (apt-get install -y -qq binaryen >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq binaryen >/dev/null; }) ||
    echo "binaryen could not be installed: wasm-opt column skipped"
fi
command -v wasm-opt >/dev/null 2>&1 && wasm-opt --version
(
  cd "$tmp"
  npm pack --silent @swc/wasm@1.16.18 esbuild-wasm@0.28.2 >/dev/null
  npm install --silent --no-audit --no-fund --prefix "$tmp/npm" binaryen@132.0.0 >/dev/null
  for t in *.tgz; do
    mkdir -p "${t%.tgz}"
    tar -xzf "$t" -C "${t%.tgz}"
    echo "package: $t"
  done
)
mapfile -t files < <(find "$tmp" -path "$tmp/npm" -prune -o -name '*.wasm' -size +1M -print | sort)
export FLIGHT_BENCH_BINARYEN_JS="$tmp/npm/node_modules/.bin/wasm-opt"
"$FLIGHT_BENCH_BINARYEN_JS" --version
lscpu | grep 'Model name' || true
cargo bench -p flight-mem-wasm --bench rebase -- "${files[@]}"
