//! The numbers come from the layout: a `memory_layout!` component's segment
//! and the shared regions its access lists grant it, turned into
//! [`Options`] (for [`rebase`](crate::rebase)) or into the `flight-rebase`
//! flags of SPEC §7 (for a build step), so no offset or size is ever copied
//! by hand between the plan and the rebasing step.
//!
//! The unified memory is the component's bank: a segment's base is its
//! offset in the bank ([`RegionInfo::offset`]). A shared region granted to
//! the component becomes a window for the memory the module imports as
//! `shared.NAME` ([`SHARED_IMPORT_MODULE`], the region's name as the
//! field), `read` or `write` as the access list says.

use crate::{Access, Error, Isolation, Options, Segment, SharedWindow};
use flight_mem::{AllocatorKind, EntryKind, LayoutTable, RegionInfo};

/// The import module under which a rebased component imports the shared
/// regions its layout grants it: `(import "shared" "frame_data" (memory 1))`.
///
/// Not `env`: toolchains import a module's *own* memory as `env.memory`
/// (`wasm-ld --import-memory`), and a shared region named `memory` must not
/// capture it.
pub const SHARED_IMPORT_MODULE: &str = "shared";

impl From<&RegionInfo> for Segment {
    /// The entry's bytes as a range of its bank.
    fn from(region: &RegionInfo) -> Segment {
        Segment {
            base: region.offset as u64,
            size: region.size as u64,
        }
    }
}

impl Options {
    /// The options that rebase the module of `component` of `layout` into
    /// its segment, with a window for every shared region the layout grants
    /// it (checked isolation; change the fields as needed).
    ///
    /// Windows the module does not import are skipped
    /// ([`allow_unused_windows`](Options::allow_unused_windows)): a grant is
    /// a permission, not a duty.
    ///
    /// Refused: a name that is not a component of the layout, a component
    /// with an allocator (its segment is the allocator's, not the
    /// module's: declare it `allocator: none`), and a granted shared region
    /// in another bank (the unified memory is one bank).
    ///
    /// ```
    /// use flight_mem::{Layout as _, memory_layout};
    /// use flight_mem_wasm::{Access, Options};
    ///
    /// memory_layout! {
    ///     layout Engine for Wasm32 {
    ///         guard = 0 B;
    ///         component physics = 64 KiB { allocator: none };
    ///         component renderer = 64 KiB { allocator: none };
    ///         shared frame_data = 64 KiB { access: [physics: write, renderer: read] };
    ///     }
    /// }
    ///
    /// let opts = Options::for_component(Engine::table(), "renderer").unwrap();
    /// assert_eq!((opts.segment.base, opts.segment.size), (0x10000, 0x10000));
    /// assert_eq!(opts.shared[0].name(), "shared.frame_data");
    /// assert_eq!(opts.shared[0].access, Access::Read);
    /// ```
    pub fn for_component(layout: &LayoutTable, component: &str) -> Result<Options, Error> {
        let regions = layout.regions();
        let components = || {
            regions
                .iter()
                .filter(|r| r.kind == EntryKind::Component)
                .map(|r| format!("`{}`", r.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let bad = |why: String| Error::Layout {
            layout: layout.name().to_string(),
            component: component.to_string(),
            why,
        };
        let Some(entry) = regions.iter().find(|r| r.name == component) else {
            return Err(bad(format!(
                "the layout has no entry of that name; its components: {}",
                components()
            )));
        };
        if entry.kind != EntryKind::Component {
            return Err(bad(format!(
                "it is a `{}`, not a `component`; the layout's components: {}",
                entry.kind.keyword(),
                components()
            )));
        }
        if entry.allocator != AllocatorKind::Segment {
            return Err(bad(format!(
                "its segment belongs to its `{:?}` allocator; a WebAssembly module needs the \
                 whole segment: declare it `{{ allocator: none }}`",
                entry.allocator
            )));
        }
        let mut shared = Vec::new();
        for region in regions.iter().filter(|r| r.kind == EntryKind::Shared) {
            let Some(grant) = region.access.iter().find(|g| g.component == component) else {
                continue;
            };
            if region.bank != entry.bank {
                return Err(bad(format!(
                    "shared region `{}` it may use is in bank `{}`, its segment in bank `{}`; \
                     the unified memory is one bank",
                    region.name, region.bank, entry.bank
                )));
            }
            shared.push(SharedWindow {
                module: SHARED_IMPORT_MODULE.to_string(),
                field: region.name.to_string(),
                segment: Segment::from(region),
                access: if grant.write {
                    Access::Write
                } else {
                    Access::Read
                },
            });
        }
        let mut options = Options::new(Segment::from(entry));
        options.shared = shared;
        options.allow_unused_windows = true;
        Ok(options)
    }

    /// The `flight-rebase` flags (SPEC §7) that rebase `wasm` as
    /// [`rebase`](crate::rebase)`(wasm, self)` does: `--segment`,
    /// `--isolation`, `--memory-import` and one `--shared` per window the
    /// module imports (all of them unless
    /// [`allow_unused_windows`](Options::allow_unused_windows)), numbers in
    /// hex. Put them after `IN.wasm -o OUT.wasm`.
    ///
    /// Fields without a flag are left out: `validate`, `threads` and
    /// `relocations` do not change the output; `imported_pages` does, so a
    /// build that sets it must call the library.
    pub fn to_args(&self, wasm: &[u8]) -> Vec<String> {
        let imported = crate::read::imported_memories(wasm);
        let isolation = match self.isolation {
            Isolation::Trusted => "trusted",
            Isolation::Masked => "masked",
            Isolation::Checked => "checked",
        };
        let mut args = vec![
            "--segment".to_string(),
            range(self.segment),
            "--isolation".into(),
            isolation.into(),
            "--memory-import".into(),
            format!("{}.{}", self.memory_import.0, self.memory_import.1),
        ];
        for w in &self.shared {
            let used = imported
                .iter()
                .any(|(m, f)| *m == w.module && *f == w.field);
            if used || !self.allow_unused_windows {
                let access = match w.access {
                    Access::Read => "read",
                    Access::Write => "write",
                };
                args.push("--shared".into());
                args.push(format!("{}={}:{access}", w.name(), range(w.segment)));
            }
        }
        args
    }
}

fn range(s: Segment) -> String {
    format!("{:#x}:{:#x}", s.base, s.size)
}
