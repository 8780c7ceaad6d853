#!/usr/bin/env python3
"""Writes the 64-entry layout the compile-time benchmark checks (to stdout).

Argument: `literal` (every size a literal, the common case) or `typed`
(pools of `size_of`-sized types and `( const-expr )` sizes, which only rustc
can evaluate) or `empty` (the same program without the layout).
"""
import sys

mode = sys.argv[1]
out = ["#![allow(unused)]", "use flight_mem::memory_layout;", ""]
for i in range(16):
    out.append(f"pub struct Thing{i} {{ pub data: [u32; {i + 1}] }}")
out.append("")
if mode != "empty":
    out += ["memory_layout! {", "    pub layout Game for Dreamcast {", "        guard = 64 B;", "        align = 16;"]
    for i in range(16):
        mem = "Video" if i % 4 == 0 else "System"
        alloc = ["tlsf", "buddy", "freelist", "tlsf"][i % 4]
        bank = ", bank: vram" if i % 4 == 0 else ""
        out.append(f"        region r{i} = {64 + i} KiB {{ memory: {mem}, allocator: {alloc}{bank} }};")
    for i in range(16):
        if mode == "typed":
            out.append(f"        pool p{i} = [Thing{i}; {128 + i}];")
        else:
            out.append(f"        pool p{i} = [{32 + 16 * (i % 8)} B; {128 + i}];")
    for i in range(12):
        size = f"({16 + i} * 1024)" if mode == "typed" else f"{16 + i} KiB"
        out.append(f"        frame f{i} = [{size}; 2];")
    for i in range(12):
        out.append(f"        stack s{i} = {8 + i} KiB;")
    for i in range(8):
        out.append(f"        reserve e{i} = {4 + i} KiB;")
    out += ["    }", "}", ""]
    out.append("fn main() {")
    out.append("    let block = Game::alloc_r1(core::alloc::Layout::from_size_align(64, 8).unwrap());")
    out.append("    println!(\"{} {}\", block.is_ok(), Game::stats());")
    out.append("}")
else:
    out.append("fn main() {")
    out.append("    println!(\"{}\", core::mem::size_of::<Thing3>());")
    out.append("}")
print("\n".join(out))
