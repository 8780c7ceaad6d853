//! `memory.grow` of a rebased module: inside its segment, never moving a
//! neighbour.

use super::Func;
use wasm_encoder::BlockType;

impl Func<'_> {
    /// `memory.grow` inside the segment: the old size in pages, or -1 past
    /// the segment (or the declared maximum). New pages read as zero.
    pub(super) fn grow(&mut self, m: u32) {
        let mem = *self.mem(m);
        let (pages, bytes) = (self.plan.pages_global, self.plan.bytes_global);
        let limit = self.plan.limit_global;
        if !mem.is_own() {
            // A window has a fixed size: growing by 0 reports it, else fails.
            self.sink()
                .i32_eqz()
                .if_(BlockType::Result(wasm_encoder::ValType::I32))
                .i32_const(mem.max_pages as i32)
                .else_()
                .i32_const(-1)
                .end();
            return;
        }
        let t = self.scratch;
        self.uses_scratch = true;
        self.sink()
            .local_set(t)
            .global_get(pages)
            .i64_extend_i32_u()
            .local_get(t)
            .i64_extend_i32_u()
            .i64_add()
            .i64_const(i64::from(mem.max_pages))
            .i64_gt_u()
            .if_(BlockType::Result(wasm_encoder::ValType::I32))
            .i32_const(-1)
            .else_()
            .global_get(pages);
        // Zero the new pages: the module may have left bytes there under
        // `trusted` or `masked`, and wasm promises zeros. In two halves of
        // `t << 15` bytes each: `t << 16` wraps to 0 for a grow by 65,536
        // pages (a 4 GiB segment at base 0), while a half is at most 2^31.
        // `base + bytes + half` cannot wrap: the second half ends inside
        // the segment, below 2^32, unless it is empty.
        for second in [false, true] {
            self.sink()
                .global_get(bytes)
                .i32_wrap_i64()
                .i32_const(mem.base as i32)
                .i32_add();
            if second {
                self.sink().local_get(t).i32_const(15).i32_shl().i32_add();
            }
            self.sink()
                .i32_const(0)
                .local_get(t)
                .i32_const(15)
                .i32_shl()
                .memory_fill(0);
        }
        self.sink()
            .global_get(pages)
            .local_get(t)
            .i32_add()
            .global_set(pages)
            .global_get(pages)
            .i64_extend_i32_u()
            .i64_const(16)
            .i64_shl()
            .global_set(bytes);
        for k in 0..crate::write::LIMITS {
            self.sink()
                .global_get(bytes)
                .i32_wrap_i64()
                .i32_const(1 << k)
                .i32_sub()
                .global_set(limit + k);
        }
        self.sink().end();
    }
}
