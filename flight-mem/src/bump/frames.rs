//! See [`Frames`].

use core::alloc::Layout;
use core::ptr::NonNull;

use crate::bump::linear::{
    Bump, Checkpoint, Geometry, MAX_FRAME_LEN, Peak, Scope, State, check_state,
};
use crate::sync::{Lock, Ordering, const_fn};
use crate::{
    AllocError, AllocatorKind, AllocatorStats, InvariantViolation, RawAllocator, RawMemory,
};

/// The most frames a [`Frames`] can have: the frame index is 8 bits.
const MAX_FRAMES: usize = 255;
/// Every frame's length is a multiple of this.
const FRAME_GRANULE: usize = 16;

/// What a retired frame still holds, kept at the end of the memory.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct FrameRecord {
    bytes: u32,
    blocks: u32,
    /// Alignment padding inside `bytes`. Wrapping: the padding of an
    /// allocation racing `next_frame` may be attributed to a neighbour.
    padding: usize,
}

/// Totals of the records of all frames, and whether the records (which may
/// start as garbage in memory from `RawMemory::from_raw_parts`) are zeroed.
struct Retired {
    initialised: bool,
    bytes: usize,
    blocks: usize,
    padding: usize,
    /// The highest `used` reached before the current frame became current.
    peak: usize,
}

/// `count` linear frames recycled round-robin: per-frame scratch memory.
///
/// * Allocation from the current frame: O(1), lock-free, like
///   [`Linear`](crate::Linear), with the same [scopes](Frames::scope).
/// * [`next_frame`](Frames::next_frame) makes the oldest frame current and
///   empty; a frame's blocks stay valid for `count - 1` calls after it was
///   left.
/// * Per-block overhead: none; per frame, a 16-byte record (12 on 32-bit
///   targets) at the end of the memory, and frame lengths are rounded down to
///   a multiple of 16. Each frame holds at most 256 MiB - 1 bytes.
/// * Statistics cover the current and the retained frames; a block counts as
///   live until its frame is reset or its scope rolls back.
///
/// N linear frames over one memory range, recycled round-robin: per-frame
/// scratch memory for games.
///
/// # Algorithm
///
/// The memory is split into `count` equal frames. Allocation bumps the
/// current frame exactly like [`Linear`](crate::Linear) (same state word, same
/// lock-free CAS, same rollback proof for [scopes](Frames::scope)); the
/// state word's 8-bit `epoch` is the index of the current frame.
/// [`next_frame`](Frames::next_frame) makes the next frame (the oldest one)
/// current and empty in one CAS, so frame `i`'s blocks stay valid for the
/// `count - 1` calls to `next_frame` after the one that left it: with two
/// frames, data written during one game frame can be read during the next.
///
/// ## Why 8 epoch bits suffice
///
/// A scope rolls back only when the state word still carries the epoch of its
/// first allocation. By `next_frame`'s safety contract a scope that allocated
/// in frame `i` is closed before frame `i` is reset, which happens on the
/// `count`-th `next_frame` after leaving it; during the `1..count` calls in
/// between the current index differs from `i`, so the scope cannot roll back
/// another frame's state. `count <= 255` indices fit in 8 bits. A scope whose
/// allocations span two frames never rolls back.
///
/// # Limits and costs
///
/// * Alloc O(1) (plus CAS retries under contention), `free` O(1) and a no-op,
///   `next_frame` O(1), `reset` O(count).
/// * Per-block overhead: none (alignment padding only). Per frame: one
///   bookkeeping record (16 bytes on 64-bit targets, 12 on 32-bit) kept at the
///   end of the memory; each frame's length is rounded down to a multiple of
///   16 so that all frames start equally aligned.
/// * Each frame holds at most 256 MiB - 1 bytes (28-bit offsets);
///   [`Frames::new`] rejects more. `count` is 1..=255.
/// * Alignment: any power of two; padding counts as used.
/// * Thread safety: allocation and scopes are lock-free (on targets with
///   64-bit CAS); `next_frame`, `reset` and `stats` take a short internal
///   lock that guards the records of retired frames and never calls user code.
///
/// # Statistics
///
/// `capacity` is the bytes of all frames. `used`, `live` and `requested`
/// cover the current frame plus the retained ones (every frame not reset
/// since it was last current). As with [`Linear`](crate::Linear), `free`
/// reclaims nothing and a block is deallocated when the reset or rollback that
/// reclaims it happens. `largest_free` is what the current frame has left.
///
/// The figures are derived as for [`Linear`](crate::Linear) (an
/// allocation writes only the state word, plus the padding counter when it
/// needs padding), from the current frame's state word and the records of the
/// retained frames (bytes, blocks, padding):
/// `used = retained bytes + offset`, `live = retained blocks + blocks`,
/// `allocations = deallocations + live`, `requested = used - padding` (all
/// frames'). `peak` is the highest `used` ever reached: when `next_frame` or
/// `reset` leaves a frame, they fold the highest offset it reached (recorded
/// by its rollbacks, or its final one) plus the bytes the other frames held
/// meanwhile into a running maximum. `stats`, `next_frame` and `reset` take
/// the internal lock, so a snapshot never sees a frame switch half done.
///
/// Exactness is as for `Linear`, with one addition: a padded allocation whose
/// CAS lands in a frame just before `next_frame` leaves it, and which adds its
/// padding only after, has that padding counted in the next frame. Totals stay
/// exact until the frame it was allocated in is reset; from then until the
/// frame after it is reset too (or `reset`), `requested` is lower by that
/// padding. Single-threaded use, and any use where padded allocations do not
/// race `next_frame`, is always exact.
///
/// # Example
///
/// ```
/// use flight_mem::{Arena, Frames, RawAllocator, RawMemory};
/// use core::alloc::Layout;
///
/// static ARENA: Arena<{ 64 * 1024 }> = Arena::new();
/// // SAFETY: ARENA is handed to this one allocator and nothing else.
/// static SCRATCH: Frames = Frames::new(unsafe { RawMemory::from_arena(&ARENA) }, 2);
///
/// let commands = SCRATCH.allocate(Layout::new::<[u32; 64]>()).unwrap();
/// // SAFETY: nothing points into the frame `next_frame` resets (the one
/// // after the current frame; `commands` lives in the current one).
/// unsafe { SCRATCH.next_frame() };
/// assert_eq!(SCRATCH.current_frame(), 1);
/// assert!(SCRATCH.owns(commands.cast()));
/// let len = SCRATCH.scope(|scope| scope.alloc_str("hello").unwrap().len());
/// assert_eq!(len, 5);
/// ```
pub struct Frames {
    memory: RawMemory,
    frame_len: usize,
    count: usize,
    bump: Bump,
    retired: Lock<Retired>,
}

// SAFETY: allocation state is the atomics of `bump` (disjoint blocks by CAS,
// rollbacks sound by the proof in `linear`); the frame records in memory are
// only accessed inside `retired`'s lock; `memory` is an immutable range.
unsafe impl Sync for Frames {}
// SAFETY: the allocator owns its memory range; moving it moves that ownership.
unsafe impl Send for Frames {}

impl Frames {
    /// Bytes of bookkeeping per frame, kept at the end of the memory: 16 on
    /// 64-bit targets, 12 on 32-bit ones.
    pub const RECORD_SIZE: usize = size_of::<FrameRecord>();

    const_fn! {
        /// `count` frames over `memory`, frame 0 current.
        ///
        /// # Panics
        ///
        /// When `count` is not in 1..=255, when `memory` cannot hold the
        /// `count` frame records ([`Frames::RECORD_SIZE`] bytes each), or
        /// when a frame would exceed 256 MiB - 1 bytes (at compile time in a
        /// `static`).
        pub fn new(memory: RawMemory, count: usize) -> Self {
            assert!(matches!(count, 1..=MAX_FRAMES), "flight-mem: `Frames` needs 1..=255 frames");
            let records = count * size_of::<FrameRecord>();
            // The records are written by safe calls (`stats`, `check`,
            // `next_frame_mut`), so memory too short for them must never
            // become a `Frames`.
            assert!(
                memory.len() >= records,
                "flight-mem: the memory of `Frames` is shorter than its frame records (`Frames::RECORD_SIZE` bytes per frame)"
            );
            let frame_len = memory.len().saturating_sub(records) / count / FRAME_GRANULE * FRAME_GRANULE;
            assert!(
                frame_len <= MAX_FRAME_LEN,
                "flight-mem: a frame of `Frames` holds at most 256 MiB - 1 bytes (offsets are 28 bits); use more frames"
            );
            Self {
                memory,
                frame_len,
                count,
                bump: Bump::new(),
                retired: Lock::new(Retired {
                    initialised: false,
                    bytes: 0,
                    blocks: 0,
                    padding: 0,
                    peak: 0,
                }),
            }
        }
    }

    /// How many frames there are.
    pub fn frame_count(&self) -> usize {
        self.count
    }

    /// Bytes in each frame.
    pub fn frame_capacity(&self) -> usize {
        self.frame_len
    }

    /// The index of the frame allocations come from.
    pub fn current_frame(&self) -> usize {
        usize::from(self.bump.load().epoch())
    }

    #[inline]
    fn geometry(&self) -> Geometry {
        Geometry {
            base: self.memory.as_ptr(),
            frame_len: self.frame_len,
            multi_frame: true,
        }
    }

    /// Runs `f` with a [`Scope`] over the current frame, whose allocations are
    /// given back when `f` returns or unwinds, unless another thread allocated
    /// after them or the frame changed (then they stay until the frame's
    /// reset).
    pub fn scope<R>(&self, f: impl FnOnce(&Scope<'_>) -> R) -> R {
        f(&Scope::new(&self.bump, self.geometry()))
    }

    /// A per-thread handle that claims chunks of the current frame with one
    /// CAS each and allocates inside them with no atomic (see
    /// [`LocalBump`](crate::LocalBump)). Drop it before the next
    /// [`next_frame`](Frames::next_frame): a handle keeps allocating from the
    /// frame its chunk lies in.
    pub fn local(&self) -> crate::LocalBump<'_> {
        crate::LocalBump::new(&self.bump, self.geometry())
    }

    /// The position in the current frame, to return to with
    /// [`Frames::reset_to`].
    pub fn checkpoint(&self) -> Checkpoint {
        self.bump.checkpoint()
    }

    /// Returns to `checkpoint`, reclaiming every block allocated after it.
    /// Does nothing when the checkpoint's frame is no longer current (or a
    /// concurrent `next_frame` has begun to leave it) or the frame is already
    /// below it.
    ///
    /// # Safety
    ///
    /// As [`Linear::reset_to`](crate::Linear::reset_to).
    pub unsafe fn reset_to(&self, checkpoint: Checkpoint) {
        // SAFETY: the caller upholds `Bump::reset_to`'s contract, which is
        // this function's.
        unsafe { self.bump.reset_to(checkpoint) }
    }

    /// Makes the next frame current and empty, reclaiming its blocks. The
    /// frame just left keeps its blocks for `frame_count() - 1` more calls.
    ///
    /// # Safety
    ///
    /// No block of the frame being reset (index `(current_frame() + 1) %
    /// frame_count()`) is used after this call, every access to one happens
    /// before it, no scope that allocated in it is still open, and no [local
    /// handle](Frames::local) is alive (its chunk would stay in the frame
    /// being left). With one frame, that is every block and every scope.
    pub unsafe fn next_frame(&self) {
        self.retired.with(|retired| {
            self.initialise(retired);
            // Only `next_frame` and `reset` change the epoch, both inside
            // this lock.
            let leaving = self.bump.load().epoch();
            // Retag the peak first: from here on no rollback of the frame
            // being left moves its offset down (`Bump::record_peak`), so its
            // peak is what was recorded so far or its final offset.
            let recorded = Peak(
                self.bump
                    .peak
                    .swap(Peak::new(0, self.following(leaving)).0, Ordering::Relaxed),
            );
            let mut current = self.bump.load();
            let left = loop {
                let next = State::new(0, 0, self.following(current.epoch()));
                match self.bump.state.compare_exchange(
                    current.0,
                    next.0,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break current,
                    Err(seen) => current = State(seen),
                }
            };
            retired.fold_peak(recorded, left);
            let padding = self.bump.padding.swap(0, Ordering::Relaxed);
            let record = FrameRecord {
                // Both fit: they are at most `MAX_FRAME_LEN < 2^28`.
                bytes: left.offset() as u32,
                blocks: left.blocks() as u32,
                padding,
            };
            self.write_record(left.epoch(), record);
            retired.bytes += record.bytes as usize;
            retired.blocks += record.blocks as usize;
            retired.padding = retired.padding.wrapping_add(record.padding);
            self.clear_frame(retired, self.following(left.epoch()));
        });
    }

    /// [`Frames::next_frame`] through `&mut self`, which proves that no scope
    /// is open and no `&'static` borrow hands out blocks. Raw pointers into
    /// the reset frame become dangling.
    pub fn next_frame_mut(&mut self) {
        // SAFETY: `&mut self` excludes open scopes and other users; raw blocks
        // are valid only until their frame's reset (the `RawAllocator`
        // contract as documented for `Frames`).
        unsafe { self.next_frame() }
    }

    /// Empties every frame and makes frame 0 current.
    ///
    /// # Safety
    ///
    /// No block of this allocator is used after this call, every access to
    /// one happens before it, no scope is open and no [local
    /// handle](Frames::local) is alive.
    pub unsafe fn reset(&self) {
        self.retired.with(|retired| {
            self.initialise(retired);
            let recorded = Peak(self.bump.peak.swap(Peak::new(0, 0).0, Ordering::Relaxed));
            let left = State(self.bump.state.swap(State::EMPTY.0, Ordering::AcqRel));
            retired.fold_peak(recorded, left);
            self.bump.padding.store(0, Ordering::Relaxed);
            self.bump
                .deallocations
                .fetch_add(left.blocks() as u64, Ordering::Relaxed);
            for frame in 0..self.count {
                self.clear_frame(retired, frame as u8);
            }
            debug_assert!(retired.bytes == 0 && retired.blocks == 0);
            // Only raced attribution can leave anything here; nothing is live.
            retired.padding = 0;
        });
    }

    /// [`Frames::reset`] through `&mut self`, which proves that no scope is
    /// open. Raw pointers from [`RawAllocator::allocate`] become dangling.
    pub fn reset_mut(&mut self) {
        // SAFETY: as for `next_frame_mut`, for every frame.
        unsafe { self.reset() }
    }

    #[inline]
    fn following(&self, frame: u8) -> u8 {
        // `count <= 255`, so the index fits in a byte.
        ((usize::from(frame) + 1) % self.count) as u8
    }

    /// Forgets what `frame` held (its blocks count as deallocated).
    fn clear_frame(&self, retired: &mut Retired, frame: u8) {
        let old = self.read_record(frame);
        retired.bytes -= old.bytes as usize;
        retired.blocks -= old.blocks as usize;
        retired.padding = retired.padding.wrapping_sub(old.padding);
        self.bump
            .deallocations
            .fetch_add(u64::from(old.blocks), Ordering::Relaxed);
        self.write_record(frame, FrameRecord::default());
    }

    /// Zeroes the records on first use (the memory may hold anything).
    fn initialise(&self, retired: &mut Retired) {
        if !retired.initialised {
            for frame in 0..self.count {
                self.write_record(frame as u8, FrameRecord::default());
            }
            retired.initialised = true;
        }
    }

    fn record_ptr(&self, frame: u8) -> *mut FrameRecord {
        let offset = self.count * self.frame_len + usize::from(frame) * size_of::<FrameRecord>();
        self.memory.as_ptr().wrapping_add(offset).cast()
    }

    /// Reads a record. Call only inside `retired`'s lock, after `initialise`.
    fn read_record(&self, frame: u8) -> FrameRecord {
        debug_assert!(usize::from(frame) < self.count);
        // SAFETY: `new` placed `count` records after the frames, inside the
        // memory (`count * frame_len + count * size_of::<FrameRecord>() <=
        // len`); they are only accessed inside the lock, so no access races;
        // unaligned reads need no alignment; `initialise` wrote them.
        unsafe { self.record_ptr(frame).read_unaligned() }
    }

    /// Writes a record. Call only inside `retired`'s lock.
    fn write_record(&self, frame: u8, record: FrameRecord) {
        debug_assert!(usize::from(frame) < self.count);
        // SAFETY: as in `read_record`; no block is ever handed out there.
        unsafe { self.record_ptr(frame).write_unaligned(record) }
    }

    fn frames_len(&self) -> usize {
        self.count * self.frame_len
    }
}

impl Retired {
    /// Folds in the peak of the frame `left` just stopped being current:
    /// what its rollbacks recorded (while tagged with its epoch) or its final
    /// offset, on top of the other frames' bytes, constant while it was
    /// current.
    fn fold_peak(&mut self, recorded: Peak, left: State) {
        debug_assert_eq!(recorded.epoch(), left.epoch());
        let frame_peak = recorded.offset().max(left.offset());
        self.peak = self.peak.max(self.bytes + frame_peak);
    }
}

// SAFETY: blocks come from `Bump::allocate` over the current frame: inside
// the frames area, aligned, at least `size` long, disjoint because each is
// the range one CAS moved the offset across, and valid until their frame is
// reset (`next_frame`, `reset`, `reset_to`) or their scope rolls back.
unsafe impl RawAllocator for Frames {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.bump
            .allocate(self.geometry(), layout)
            .map(|bumped| bumped.block)
    }

    /// Checks that `ptr` lies in a frame and reclaims nothing: the block
    /// stays until its frame is reset.
    unsafe fn free(&self, ptr: NonNull<u8>) -> Result<(), AllocError> {
        let offset = ptr
            .as_ptr()
            .addr()
            .wrapping_sub(self.memory.as_ptr().addr());
        if offset < self.frames_len() {
            Ok(())
        } else {
            Err(AllocError::ForeignPointer)
        }
    }

    fn owns(&self, ptr: NonNull<u8>) -> bool {
        self.memory.contains(ptr.as_ptr())
    }

    fn capacity(&self) -> usize {
        self.frames_len()
    }

    fn stats(&self) -> AllocatorStats {
        let capacity = self.frames_len();
        let mut stats = AllocatorStats::empty(capacity);
        self.retired.with(|retired| {
            self.initialise(retired);
            let state = self.bump.load();
            stats.used = retired.bytes + state.offset();
            stats.live = retired.blocks + state.blocks();
            let padding = retired
                .padding
                .wrapping_add(self.bump.padding.load(Ordering::Relaxed));
            stats.requested = stats.used.saturating_sub(padding);
            stats.peak = retired
                .peak
                .max(retired.bytes + self.bump.frame_peak(state));
            stats.largest_free = self.frame_len - state.offset();
            stats.deallocations = self.bump.deallocations.load(Ordering::Relaxed);
            stats.allocations = stats.deallocations + stats.live as u64;
        });
        stats.failures = self.bump.failures.load(Ordering::Relaxed);
        stats
    }

    fn kind(&self) -> AllocatorKind {
        AllocatorKind::Frames
    }

    fn check(&self) -> Result<(), InvariantViolation> {
        self.retired.with(|retired| {
            self.initialise(retired);
            let state = self.bump.load();
            check_state(state, self.frame_len, self.count)?;
            // The lock excludes `next_frame`, so the tag matches the frame.
            self.bump.check_peak(state, self.frame_len)?;
            let records_at = self.frames_len();
            let (mut bytes, mut blocks, mut padding) = (0usize, 0usize, 0usize);
            for frame in 0..self.count {
                let record = self.read_record(frame as u8);
                let offset = records_at + frame * size_of::<FrameRecord>();
                if record.bytes as usize > self.frame_len || record.blocks > record.bytes {
                    return Err(InvariantViolation {
                        what: "frame record out of range",
                        offset,
                    });
                }
                if frame == usize::from(state.epoch()) && (record.bytes != 0 || record.blocks != 0)
                {
                    return Err(InvariantViolation {
                        what: "current frame has a retired record",
                        offset,
                    });
                }
                bytes += record.bytes as usize;
                blocks += record.blocks as usize;
                padding = padding.wrapping_add(record.padding);
            }
            if (bytes, blocks, padding) != (retired.bytes, retired.blocks, retired.padding) {
                return Err(InvariantViolation {
                    what: "frame totals disagree with records",
                    offset: records_at,
                });
            }
            Ok(())
        })
    }
}

crate::allocator::impl_allocator_api2!(Frames);
crate::allocator::inherent_surface!(Frames);
// SAFETY: `free` of a live block is `Ok` and changes nothing; its bytes come back at `next_frame`/`reset`, which are `unsafe` or need `&mut self`; it never panics.
unsafe impl crate::allocator::FreesInAnyOrder for Frames {}
