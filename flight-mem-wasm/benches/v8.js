// Run-time cost of isolation in V8 (node's `WebAssembly`), an optimizing
// engine: the kernel modules `FLIGHT_BENCH_EMIT=DIR` writes (the bytes
// `icount.sh` runs in wasmi) executed side by side. Driven by `v8.sh`,
// which says how to run it.
//
//   node v8.js DIR [ROUNDS [N]]   interleaved timing: every round calls each
//                                 variant once with N iterations, in turn;
//                                 medians and ratios to `original`
//   node v8.js DIR --one VARIANT N
//                                 one call of one variant, nothing else
//                                 (for callgrind: two N's, difference)
"use strict";
const fs = require("fs");
const path = require("path");

const ORDER = ["original", "binaryen", "trusted", "masked", "masked8", "checked", "checkedgrow"];

// A rebased module imports the unified memory; give it 256 MiB as the
// wasmi benches do. A module with its own memory imports nothing.
function instantiate(bytes) {
  const module = new WebAssembly.Module(bytes);
  const imports = {};
  if (WebAssembly.Module.imports(module).some((i) => i.kind === "memory")) {
    imports.env = { memory: new WebAssembly.Memory({ initial: 4096 }) };
  }
  return new WebAssembly.Instance(module, imports).exports.run;
}

function load(dir) {
  return ORDER.filter((v) => fs.existsSync(path.join(dir, v + ".wasm"))).map((v) => ({
    name: v,
    run: instantiate(fs.readFileSync(path.join(dir, v + ".wasm"))),
  }));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const [dir, ...rest] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node v8.js DIR [ROUNDS [N]] | node v8.js DIR --one VARIANT N");
  process.exit(2);
}
if (rest[0] === "--one") {
  const bytes = fs.readFileSync(path.join(dir, rest[1] + ".wasm"));
  const run = instantiate(bytes);
  console.log(`${rest[1]}: ${run(Number(rest[2]))}`);
} else {
  const rounds = Number(rest[0] || 15);
  const n = Number(rest[1] || 4000000);
  const variants = load(dir);
  // Warm-up: one call each, so every function has reached the tier the
  // flags allow before anything is timed. The kernel's table keeps its
  // counts between calls: only the first call of each (fresh memory) has
  // the original's result.
  let expect;
  for (const v of variants) {
    const r = v.run(n);
    expect ??= r;
    if (r !== expect) throw new Error(`${v.name} computes ${r}, original ${expect}`);
    v.ns = [];
  }
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      const t0 = process.hrtime.bigint();
      v.run(n);
      v.ns.push(Number(process.hrtime.bigint() - t0));
    }
  }
  const base = median(variants[0].ns);
  console.log(`V8 ${process.versions.v8}, flags: ${process.execArgv.join(" ") || "(default)"}`);
  console.log(`${rounds} interleaved rounds of ${n} iterations; median per call:`);
  for (const v of variants) {
    const m = median(v.ns);
    const best = Math.min(...v.ns);
    console.log(
      `  ${v.name.padEnd(12)} ${(m / 1e6).toFixed(1).padStart(8)} ms  ${(m / base).toFixed(2)}x` +
        `   (best ${(best / 1e6).toFixed(1)} ms, ${(best / Math.min(...variants[0].ns)).toFixed(2)}x)`,
    );
  }
}
