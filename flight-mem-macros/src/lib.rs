//! The `memory_layout!` macro of [flight-mem](https://docs.rs/flight-mem).
//!
//! Use it through `flight_mem::memory_layout!`; this crate is an
//! implementation detail and its only item is the macro. The expansion is a
//! pipeline of plain functions over token streams, so its stages can be
//! tested without a compiler:
//!
//! 1. `parse`: tokens to a syntax tree that keeps declaration
//!    order, recovering after each bad item;
//! 2. `check`: the rules of the language, every error
//!    collected and spanned on its token;
//! 3. `analyze`: placement of the entries in their banks and
//!    the budget proof for literal sizes;
//! 4. `codegen`: statics, accessors, tables, and const
//!    assertions for the sizes only rustc can compute.
//!
//! An invalid plan still expands to its layout struct and accessor
//! signatures beside the errors, so one mistake does not cascade into
//! "cannot find function" errors at every use.

extern crate proc_macro;

mod analyze;
mod check;
mod codegen;
mod errors;
mod expand;
mod model;
mod parse;
mod platforms;
mod vocabulary;

#[cfg(test)]
mod tests;

/// Declares a memory plan, proves at compile time that it fits the
/// platform's banks, and expands it into `static` allocators with typed
/// accessors.
///
/// ```
/// use flight_mem::memory_layout;
///
/// pub struct Particle { pub pos: [f32; 3], pub vel: [f32; 3], pub life: f32 }
///
/// memory_layout! {
///     /// Main memory plan of the Dreamcast build.
///     pub layout Game for Dreamcast {
///         guard = 4 KiB;                  // default gap after every entry
///         align = 32;                     // default alignment of every entry
///         pressure { low: 50%, medium: 25%, high: 10%, critical: 5% }
///
///         /// Textures and vertex buffers, in video RAM.
///         region video = 6 MiB { memory: Video, allocator: tlsf, align: 256 };
///         region audio = 1 MiB { memory: Audio, allocator: buddy };
///         region heap = 8 MiB;            // allocator defaults to tlsf, memory to System
///         frame scratch = [512 KiB; 2];   // two linear frames (double-buffered)
///         stack temp = 256 KiB;
///         pool particles = [Particle; 4096];
///         pool packets = [1536 B; 64] { memory: Network, align: 64 };
///         reserve emergency = 512 KiB;
///     }
/// }
///
/// let block = Game::alloc_heap(core::alloc::Layout::new::<[u64; 4]>()).unwrap();
/// assert_eq!(Game::owner_of(block.cast()).unwrap().name, "heap");
/// // SAFETY: the block came from `heap` and is not used again.
/// unsafe { Game::free_heap(block.cast(), core::alloc::Layout::new::<[u64; 4]>()) };
/// let particle = Game::alloc_particles(Particle { pos: [0.0; 3], vel: [0.0; 3], life: 1.0 });
/// assert!(particle.is_ok());
/// println!("{}", Game::map());
/// ```
///
/// # The language
///
/// ```text
/// layout    := outer-attr* vis 'layout' IDENT ('for' PLATFORM)? '{' item* '}'
/// setting   := 'budget' '=' size ';' | 'guard' '=' size ';' | 'align' '=' INT ';'
///            | 'pressure' '{' LEVEL ':' INT '%' (',' LEVEL ':' INT '%')* ','? '}'
/// bank      := 'unsafe'? 'bank' IDENT '=' size ('{' options '}')? ';'
/// entry     := doc-comment* KIND IDENT '=' shape ('{' options '}')? ';'
/// KIND      := 'region' | 'frame' | 'stack' | 'pool' | 'reserve'
/// shape     := size | '[' size ';' INT ']' | '[' TYPE ';' INT ']'
/// size      := INT UNIT | '(' const-expr ')'          UNIT: B KiB MiB GiB
/// ```
///
/// - Platforms: `Dreamcast`, `Psx`, `Psp` (32 MiB model), `Psp2000`, `Gba`,
///   `N64`, `Wasm32` (`budget` optional) and `Desktop` (`budget` required).
///   Their banks carry the bytes a program may use, not the raw chip sizes.
///   Without `for`, a layout declares `budget` (one bank, `main`) or its own
///   `bank`s. Defaults: `guard` is a page where the platform runs with an
///   MMU, else a cache line; `align` is the cache line (at least 4).
/// - Entry options: `memory` (one of `System`, `Video`, `Audio`, `Network`,
///   `Shared`, `Temporary`, `Stack`, `Pool`), `allocator` (`tlsf`, `buddy`,
///   `freelist`; regions only), `align`, `guard`, `bank`, `flags` (`[dma,
///   gpu, cacheable, uncached, zeroed, critical]`). Without `memory`, a
///   region or reserve is `System`, a frame `Temporary`, a stack `Stack`, a
///   pool `Pool` (falling back to `System` where no bank holds those).
/// - Bank options: `memory` (a list; without it the bank holds every type),
///   `flags`, `section` (a link section for the bank's static storage; only
///   in an `unsafe bank`, since the macro cannot check what the linker makes
///   of it), and `base` (a fixed address; only in an `unsafe bank`, which
///   places the bank there instead of in a static array).
/// - Placement: an entry goes to the first bank holding its memory type
///   unless `bank:` names one; entries are placed in declaration order, each
///   aligned and followed by its guard.
///
/// # The budget proof
///
/// With literal sizes the macro itself reports a bank over budget, on the
/// entry that crosses it, with the layout, bank, bytes needed, available and
/// over, and the largest entries. Sizes only rustc knows (`[T; N]` pools,
/// `( const-expr )` sizes, block pools) are proven by a named const
/// assertion per bank (`_GAME_FITS_MAIN`) with the same message, evaluated
/// by `cargo check`; it fails on the entry that crosses the budget, so the
/// error points at it.
///
/// # What it generates
///
/// For `pub layout Game`: `pub struct Game;` and, per entry `NAME`,
/// `Game::NAME()` (the `&'static` allocator: `Tlsf`, `Buddy`, `FreeList`,
/// `Frames`, `Stack`, `Pool<T>` or `BlockPool`), `Game::alloc_NAME(..)`
/// (`Layout` in, `NonNull<[u8]>` out; a typed pool moves a value in and
/// gives a `PoolBox`, or the value back when full) and, for regions, stacks
/// and block pools, `unsafe Game::free_NAME(ptr, layout)`. A `reserve` has
/// only its accessor. Layout-wide: `regions()`, `banks()`, `stats()`,
/// `owner_of(ptr)`, `map()`, `unsafe deallocate(ptr)`, and
/// `impl flight_mem::Layout for Game`.
///
/// An invalid plan reports every mistake at its token and still expands to
/// the struct and accessor signatures, so its uses add no further errors.
#[proc_macro]
pub fn memory_layout(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand::expand(input.into()).into()
}
