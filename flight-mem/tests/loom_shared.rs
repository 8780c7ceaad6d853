//! Loom models of a shared region's lock word: a writer never overlaps a
//! reader or another writer, whatever the interleaving.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};

use flight_mem::{CanRead, CanWrite, RawMemory, Shared};

enum Region {}
struct Writer;
struct Reader;
// SAFETY: this test's region grants its own tokens.
unsafe impl CanRead<Region> for Writer {}
// SAFETY: this test's region grants its own tokens.
unsafe impl CanWrite<Region> for Writer {}
// SAFETY: this test's region grants its own tokens.
unsafe impl CanRead<Region> for Reader {}

fn region() -> &'static Shared<Region> {
    let bytes: &'static mut [u8] = Box::leak(vec![0u8; 8].into_boxed_slice());
    // SAFETY: fresh leaked memory, reached only through this region.
    Box::leak(Box::new(unsafe {
        Shared::new(RawMemory::from_raw_parts(bytes.as_mut_ptr(), bytes.len()))
    }))
}

/// `inside` counts readers (+1) and writers (+1000) inside the region; a
/// writer must see exactly itself, a reader no writer.
#[test]
fn a_writer_excludes_readers_and_writers() {
    loom::model(|| {
        let region = region();
        let inside = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let inside = inside.clone();
                loom::thread::spawn(move || {
                    if let Some(mut guard) = region.try_write(&Writer) {
                        let before = inside.fetch_add(1000, Ordering::SeqCst);
                        assert_eq!(before, 0, "writer overlapped someone");
                        guard[0] = 1;
                        inside.fetch_sub(1000, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        if let Some(guard) = region.try_read(&Reader) {
            let before = inside.fetch_add(1, Ordering::SeqCst);
            assert!(before < 1000, "reader overlapped a writer");
            let _ = guard[0];
            inside.fetch_sub(1, Ordering::SeqCst);
        }
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(region.readers(), 0);
        assert!(!region.is_write_locked());
    });
}

/// The channel: whatever the interleaving of a sender sending two messages
/// into a one-slot ring and a receiver taking them, the receiver sees them
/// once each, in order, and the sender never overwrites an unreleased slot.
#[test]
fn the_channel_delivers_in_order_through_one_slot() {
    loom::model(|| {
        let bytes: &'static mut [u8] = Box::leak(vec![0u8; 8].into_boxed_slice());
        // SAFETY: fresh leaked memory, reached only through this region.
        let region: &'static Shared<Region> = Box::leak(Box::new(unsafe {
            Shared::new(RawMemory::from_raw_parts(bytes.as_mut_ptr(), bytes.len()))
        }));
        let mut tx = region.sender::<u64, _>(&Writer).unwrap();
        let mut rx = region.receiver::<u64, _>(&Reader).unwrap();
        assert_eq!(tx.capacity(), 1);
        let sender = loom::thread::spawn(move || {
            let mut next = 1u64;
            while next <= 2 {
                if tx.send(next).is_ok() {
                    next += 1;
                } else {
                    loom::thread::yield_now();
                }
            }
        });
        let mut expected = 1u64;
        while expected <= 2 {
            match rx.recv() {
                Some(value) => {
                    assert_eq!(*value, expected);
                    expected += 1;
                }
                None => loom::thread::yield_now(),
            }
        }
        sender.join().unwrap();
    });
}
