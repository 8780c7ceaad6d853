//! Compile-fail and pass cases of `memory_layout!`, run by trybuild from
//! `tests/ui.rs`: `tests/ui/<area>/<subject>-<problem>.rs`, each with the
//! reviewed `.stderr` beside it. Regenerate with `TRYBUILD=overwrite` on the
//! pinned toolchain and review the diff.
