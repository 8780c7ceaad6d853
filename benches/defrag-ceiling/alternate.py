#!/usr/bin/env python3
"""Runs `defrag moves` of several builds alternately and prints, per row of
its two tables, the median over runs of each build's `time / twin` ratio and
the median of the per-run ratio of each build to the first one (paired: the
runs of a round are back to back, so the machine's load affects both).

Usage: alternate.py RUNS BIN_A BIN_B...   (BIN_A is the reference build)
"""
import collections
import statistics
import subprocess
import sys


def rows(binary):
    """The `time / twin` column of one `defrag moves` run, by row."""
    out = subprocess.run(["nice", "-n", "10", binary, "moves"],
                         capture_output=True, text=True, check=True).stdout
    table, found = "to 95 %", {}
    for line in out.splitlines():
        if line.startswith("### Then"):
            table = "to done"
        if line.startswith("| log-uniform") or line.startswith("| uniform"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            found[(table, cells[0], cells[1])] = float(cells[-1].rstrip("×"))
    return found


def main():
    runs, builds = int(sys.argv[1]), sys.argv[2:]
    ratios = {b: collections.defaultdict(list) for b in builds}
    for i in range(runs):
        # Alternate the order too, so neither build always runs first.
        for b in builds if i % 2 == 0 else builds[::-1]:
            for key, value in rows(b).items():
                ratios[b][key].append(value)
    ref = builds[0]
    names = [b.rsplit("/", 1)[-1] for b in builds]
    print("| table | sizes | seed | " + " | ".join(f"{n} / twin" for n in names)
          + " | " + " | ".join(f"{n} ÷ {names[0]}, paired" for n in names[1:]) + " |")
    print("|---|---|---:|" + "---:|" * (2 * len(builds) - 1))
    for key in ratios[ref]:
        medians = [statistics.median(ratios[b][key]) for b in builds]
        paired = [statistics.median(x / y for x, y in zip(ratios[b][key], ratios[ref][key]))
                  for b in builds[1:]]
        print(f"| {key[0]} | {key[1]} | {key[2]} | "
              + " | ".join(f"{m:.3f}" for m in medians) + " | "
              + " | ".join(f"{p:.3f}" for p in paired) + " |")


main()
