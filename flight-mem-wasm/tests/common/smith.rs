//! The wasm-smith configuration of the differential fuzz test
//! (`tests/fuzz.rs`), shared with the `rebase_smith` cargo-fuzz target
//! (`fuzz/src/wasm.rs` includes this file by path): one memory of at most
//! eight pages with a maximum, memory operations, no memory64, threads, GC
//! or exceptions, no imports.

/// The configuration `tests/fuzz.rs` and `rebase_smith` generate with.
pub fn config() -> wasm_smith::Config {
    wasm_smith::Config {
        min_memories: 1,
        max_memories: 1,
        memory64_enabled: false,
        memory_max_size_required: true,
        // wasmi has no table limit by default: a `table.grow` by 2^31 in
        // the *original* module would allocate tens of GiB.
        table_max_size_required: true,
        max_table_elements: 10_000,
        max_memory32_bytes: 8 * 65536,
        threads_enabled: false,
        gc_enabled: false,
        exceptions_enabled: false,
        relaxed_simd_enabled: false,
        wide_arithmetic_enabled: false,
        custom_page_sizes_enabled: false,
        compact_imports_enabled: false,
        max_imports: 0,
        export_everything: true,
        min_funcs: 2,
        max_funcs: 8,
        max_instructions: 60,
        max_data_segments: 8,
        ..wasm_smith::Config::default()
    }
}
