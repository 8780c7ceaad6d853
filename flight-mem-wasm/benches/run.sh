#!/usr/bin/env bash
# Speed of flight-rebase on large real modules nobody here wrote: the .wasm
# files shipped in the npm packages @swc/wasm and esbuild-wasm, fetched into
# a temporary directory (never committed), side by side with a byte copy, a
# bare wasmparser operator scan and Binaryen's wasm-opt (Debian's binaryen)
# in one run; then the run-time cost of isolation in wasmi.
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
  npm pack --silent @swc/wasm esbuild-wasm >/dev/null
  for t in *.tgz; do
    mkdir -p "${t%.tgz}"
    tar -xzf "$t" -C "${t%.tgz}"
    echo "package: $t"
  done
)
mapfile -t files < <(find "$tmp" -name '*.wasm' -size +1M | sort)
cargo bench -p flight-mem-wasm --bench rebase -- "${files[@]}"
