//! A bounded single-producer, single-consumer channel over a shared region:
//! the writer of the access list sends, a reader receives, each message is
//! written once into its slot of the region and read there in place.
//!
//! # Protocol
//!
//! Two counters: `head`, the messages sent (written by the sender alone),
//! and `tail`, the messages received and released (written by the receiver
//! alone), both counted modulo `wrap`, a multiple of the capacity of at
//! least twice it. Slot `i % capacity` holds message `i`: a multiple keeps
//! that true across the wrap (counters wrapping at `usize::MAX + 1` would
//! not, and the sender would write the slot a reader holds), and twice the
//! capacity keeps `head - tail` (modulo `wrap`) unambiguous. The sender
//! writes a slot only while `head - tail < capacity`, i.e. after the
//! receiver's `Release` store of `tail` released it, which the sender's
//! `Acquire` load of `tail` synchronises with; the receiver reads slot
//! `tail % capacity` only while `tail < head`, after the sender's `Release`
//! store of `head` published it. So no slot is ever written and read at the
//! same time, and no compare-and-swap is needed: loads and stores only, on
//! every target (thumbv6m included), and safe in interrupt handlers.
//!
//! Both ends agree on the slot geometry: the first end taken fixes the
//! message size and alignment, and the other end must use the same (or it
//! is refused), so a slot is never read with a layout it was not written
//! with. Messages are `bytemuck` plain data: any bytes are a valid message,
//! and every byte of one is initialised.

use core::marker::PhantomData;
use core::ops::Deref;

use bytemuck::{AnyBitPattern, NoUninit};

use super::shared::{CHANNEL, CanRead, CanWrite, Shared};
use crate::sync::{AtomicU8, AtomicUsize, Ordering};

const SENDER: u8 = 1;
const RECEIVER: u8 = 2;

/// The channel state kept beside a shared region's lock.
pub(crate) struct Ring {
    head: AtomicUsize,
    tail: AtomicUsize,
    /// The message layout both ends agreed on, packed as
    /// `size * 64 + log2(align) + 1`; `0` until the first end is taken.
    geometry: AtomicUsize,
    ends: AtomicU8,
}

impl Ring {
    crate::sync::const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                head: AtomicUsize::new(0),
                tail: AtomicUsize::new(0),
                geometry: AtomicUsize::new(0),
                ends: AtomicU8::new(0),
            }
        }
    }
}

/// The slot layout of messages of type `T`: stride and count. The count
/// is capped so that [`wrap`] is at least twice it.
fn slots<T>(region_len: usize) -> Option<(usize, usize)> {
    let stride = size_of::<T>().max(1).next_multiple_of(align_of::<T>());
    let count = (region_len / stride).min(usize::MAX / 4);
    (count > 0).then_some((stride, count))
}

/// `T`'s message layout packed as `size * 64 + log2(align) + 1`, which is
/// one-to-one (`log2(align) + 1 < 64`); `None` where `size * 64` overflows
/// (a message of 64 MiB or more on 32-bit targets), where two layouts could
/// pack alike and let the ends disagree on the slots.
fn geometry<T>() -> Option<usize> {
    size_of::<T>()
        .checked_mul(64)?
        .checked_add(align_of::<T>().trailing_zeros() as usize + 1)
}

/// Where the counters of a channel of `count` slots wrap: the largest
/// multiple of `count` up to `usize::MAX / 2` (so `counter + wrap` never
/// overflows), at least `2 * count` by `slots`' cap.
fn wrap(count: usize) -> usize {
    usize::MAX / 2 / count * count
}

/// The counter after `counter`, modulo `wrap`.
fn next(counter: usize, wrap: usize) -> usize {
    if counter + 1 == wrap { 0 } else { counter + 1 }
}

impl<R> Shared<R, u8> {
    /// Takes one end of the region's channel: puts the region in channel
    /// mode (no guard is handed out afterwards) and fixes the message
    /// layout. `None` when that end is taken, a guard is live, the layout
    /// differs from the other end's, or no message fits.
    fn take_end<T>(&self, end: u8) -> Option<(usize, usize)> {
        let (stride, count) = slots::<T>(self.memory.len())?;
        if self.memory.as_ptr().align_offset(align_of::<T>()) != 0 {
            return None;
        }
        match self
            .state
            .compare_exchange(0, CHANNEL, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => {}
            Err(CHANNEL) => {}
            Err(_) => return None,
        }
        let geometry = geometry::<T>()?;
        match self.channel.geometry.compare_exchange(
            0,
            geometry,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {}
            Err(seen) if seen == geometry => {}
            Err(_) => return None,
        }
        if self.channel.ends.fetch_or(end, Ordering::AcqRel) & end != 0 {
            return None;
        }
        Some((stride, count))
    }

    /// The sending end of the region's channel, for a component with
    /// `write` access; once per region.
    pub fn sender<T: NoUninit, W: CanWrite<R>>(&self, token: &W) -> Option<Sender<'_, R, T>> {
        let _ = token;
        let (stride, count) = self.take_end::<T>(SENDER)?;
        Some(Sender {
            region: self,
            stride,
            count,
            wrap: wrap(count),
            message: PhantomData,
        })
    }

    /// The receiving end of the region's channel, for a component with
    /// `read` access; once per region.
    pub fn receiver<T: AnyBitPattern, Rd: CanRead<R>>(
        &self,
        token: &Rd,
    ) -> Option<Receiver<'_, R, T>> {
        let _ = token;
        let (stride, count) = self.take_end::<T>(RECEIVER)?;
        Some(Receiver {
            region: self,
            stride,
            count,
            wrap: wrap(count),
            message: PhantomData,
        })
    }
}

/// The sending end of a shared region's channel.
pub struct Sender<'a, R: 'static, T> {
    region: &'a Shared<R>,
    stride: usize,
    count: usize,
    wrap: usize,
    message: PhantomData<fn(T)>,
}

impl<R, T: NoUninit> Sender<'_, R, T> {
    /// Writes `value` into the next free slot; `Err(value)` when every slot
    /// holds a message the receiver has not released.
    pub fn send(&mut self, value: T) -> Result<(), T> {
        let ring = &self.region.channel;
        let head = ring.head.load(Ordering::Relaxed);
        let tail = ring.tail.load(Ordering::Acquire);
        // Both counters are below `wrap`, so this is the number of
        // messages in flight, at most `count < wrap`.
        let in_flight = if head >= tail {
            head - tail
        } else {
            head + self.wrap - tail
        };
        if in_flight >= self.count {
            return Err(value);
        }
        let slot = self
            .region
            .memory
            .as_ptr()
            .wrapping_add(head % self.count * self.stride)
            .cast::<T>();
        // SAFETY: the slot lies inside the region (`count * stride <= len`)
        // and is aligned (`take_end` checked the base, `stride` is a
        // multiple of the alignment); the receiver released it (`tail`'s
        // Acquire load above) and reads it only after the Release store
        // below, and this end is the only sender: no access races.
        unsafe { slot.write(value) };
        ring.head.store(next(head, self.wrap), Ordering::Release);
        Ok(())
    }

    /// How many messages fit at once.
    pub fn capacity(&self) -> usize {
        self.count
    }
}

/// The receiving end of a shared region's channel.
pub struct Receiver<'a, R: 'static, T> {
    region: &'a Shared<R>,
    stride: usize,
    count: usize,
    wrap: usize,
    message: PhantomData<fn() -> T>,
}

impl<R, T: AnyBitPattern> Receiver<'_, R, T> {
    /// The oldest message not released yet, read in place; its slot is
    /// released when the returned guard drops. `None` when there is none.
    pub fn recv(&mut self) -> Option<Received<'_, T>> {
        let ring = &self.region.channel;
        let tail = ring.tail.load(Ordering::Relaxed);
        let head = ring.head.load(Ordering::Acquire);
        if tail == head {
            return None;
        }
        let slot = self
            .region
            .memory
            .as_ptr()
            .wrapping_add(tail % self.count * self.stride)
            .cast::<T>();
        // SAFETY: the slot is inside the region and aligned (see `send`);
        // the sender published it (`head`'s Acquire load above) and will not
        // write it again before `Received` releases it; `T: AnyBitPattern`
        // and the sender's `T` has the same layout (`take_end`), so the
        // bytes are a valid `T`.
        let message = unsafe { &*slot };
        Some(Received {
            message,
            tail: &ring.tail,
            next: next(tail, self.wrap),
        })
    }

    /// How many messages fit at once.
    pub fn capacity(&self) -> usize {
        self.count
    }
}

/// A received message, in its slot; the slot goes back to the sender when
/// this drops.
pub struct Received<'a, T> {
    message: &'a T,
    tail: &'a AtomicUsize,
    next: usize,
}

impl<T> Deref for Received<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.message
    }
}

impl<T> Drop for Received<'_, T> {
    fn drop(&mut self) {
        self.tail.store(self.next, Ordering::Release);
    }
}

// SAFETY: an end only reaches the region through its own side of the
// protocol; moving it to another thread moves that side, and the messages
// with it (`T: Send`).
unsafe impl<R, T: Send> Send for Sender<'_, R, T> {}
// SAFETY: as for `Sender`.
unsafe impl<R, T: Send> Send for Receiver<'_, R, T> {}

#[cfg(test)]
mod wrap_tests {
    use super::{geometry, next, wrap};

    /// Messages too large to pack are refused rather than packed alike.
    #[test]
    fn a_message_layout_too_large_to_pack_is_refused() {
        #[cfg(target_pointer_width = "64")]
        const HUGE: usize = 1 << 58;
        #[cfg(target_pointer_width = "32")]
        const HUGE: usize = 1 << 26;
        assert_eq!(geometry::<[u8; HUGE]>(), None);
        assert_eq!(geometry::<[u8; HUGE - 1]>(), Some((HUGE - 1) * 64 + 1));
        assert_eq!(
            geometry::<u64>(),
            Some(8 * 64 + align_of::<u64>().trailing_zeros() as usize + 1)
        );
        assert_ne!(geometry::<[u16; 4]>(), geometry::<[u8; 8]>());
    }

    /// The counters wrap at a multiple of the slot count, so a counter's
    /// slot (`counter % count`) runs on without a jump across the wrap and
    /// a held slot is never reached again before its turn (the brute-force
    /// proof over 2^32 messages is `tests/audit7b.rs`, 32-bit release).
    #[test]
    fn counters_wrap_at_a_multiple_of_the_slot_count() {
        let counts = (1..=300).chain([usize::MAX / 4 - 1, usize::MAX / 4, (1 << 20) + 7, 3 << 28]);
        for count in counts {
            let w = wrap(count);
            assert_eq!(w % count, 0, "{count}");
            assert!(w / count >= 2, "{count}: fewer than two laps");
            assert!(w.checked_add(w).is_some(), "{count}");
            for c in [w - 2, w - 1] {
                let after = next(c, w);
                assert_eq!(after % count, (c % count + 1) % count, "{count} at {c}");
            }
            assert_eq!(next(w - 1, w), 0);
        }
    }
}
