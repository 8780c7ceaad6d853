//! `Shared` and its channel over plain memory, with hand-made tokens: the
//! lock keeps readers and writers apart across threads, and the channel
//! delivers every message once, in order. Run under Miri, whose data-race
//! detector sees the region's raw bytes.

use flight_mem::{CanRead, CanWrite, RawMemory, Shared};

mod common;

enum Region {}
struct Writer;
struct Reader;
// SAFETY: this test's region grants its own tokens.
unsafe impl CanRead<Region> for Writer {}
// SAFETY: this test's region grants its own tokens.
unsafe impl CanWrite<Region> for Writer {}
// SAFETY: this test's region grants its own tokens.
unsafe impl CanRead<Region> for Reader {}

fn region(len: usize) -> &'static Shared<Region> {
    let memory = common::leak_memory(len, 64);
    // SAFETY: fresh leaked memory, reached only through this region.
    Box::leak(Box::new(unsafe {
        Shared::new(RawMemory::from_raw_parts(memory.as_ptr(), memory.len()))
    }))
}

#[test]
fn readers_share_and_a_writer_excludes_across_threads() {
    let region = region(256);
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for round in 0..rounds {
                region.write(&Writer).fill(round as u8);
            }
        });
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..rounds {
                    let view = region.read(&Reader);
                    assert!(view.iter().all(|&b| b == view[0]), "torn read");
                }
            });
        }
    });
    assert_eq!(region.readers(), 0);
    assert!(!region.is_write_locked());
}

#[test]
fn the_channel_delivers_every_message_once_in_order() {
    let region = region(64);
    let mut tx = region.sender::<u64, _>(&Writer).unwrap();
    let mut rx = region.receiver::<u64, _>(&Reader).unwrap();
    assert_eq!(tx.capacity(), 8);
    assert!(
        region.try_write(&Writer).is_none(),
        "a channel region gives no guard"
    );
    for value in 0..8 {
        tx.send(value).unwrap();
    }
    assert_eq!(tx.send(99), Err(99), "full");
    {
        let first = rx.recv().unwrap();
        assert_eq!(*first, 0);
        assert_eq!(tx.send(99), Err(99), "a slot read in place is not free yet");
    }
    tx.send(8).unwrap();
    let count: u64 = if cfg!(miri) { 200 } else { 100_000 };
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut next = 9;
            while next < count {
                if tx.send(next).is_ok() {
                    next += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        scope.spawn(move || {
            let mut expected = 1;
            while expected < count {
                if let Some(value) = rx.recv() {
                    assert_eq!(*value, expected);
                    expected += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
    });
}

#[test]
fn ends_refuse_a_second_taker_and_a_mismatched_layout() {
    let region = region(64);
    let guard = region.read(&Reader);
    assert!(
        region.sender::<u32, _>(&Writer).is_none(),
        "a live guard keeps the region"
    );
    drop(guard);
    let _tx = region.sender::<u32, _>(&Writer).unwrap();
    assert!(region.sender::<u32, _>(&Writer).is_none());
    assert!(
        region.receiver::<u64, _>(&Reader).is_none(),
        "different layout"
    );
    assert!(region.receiver::<u32, _>(&Reader).is_some());
}
