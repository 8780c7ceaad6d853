//! Session-12 adversarial audit of the runtime allocators (audit12), for
//! what earlier audits (`audit6*.rs`, `audit7*.rs`, `audit8.rs`,
//! `audit10.rs`) left out: `Compact` progress callbacks that re-enter or
//! panic during unlimited calls (batches of evacuations, groups of short
//! moves), `SmallFront` blocks freed through another front or class and
//! layouts at every class edge, local bump chunks rolled back under shared
//! scopes, and `SmallLocal` handles on two threads. Each test asserts the
//! safe outcome; Miri runs the file (each test under 10 s).

mod audit6_support;

use std::cell::{Cell, RefCell};

use audit6_support::{Fenced, Rng, layout};
use flight_mem::{Compact, DefragBudget, Handle};

fn pattern(id: u32, i: usize) -> u8 {
    (id as usize * 31 + i * 7 + 1) as u8
}

struct Live {
    blocks: Vec<(Handle, u32, usize)>,
    next_id: u32,
}

impl Live {
    fn alloc(&mut self, c: &Compact, size: usize, align: usize) -> bool {
        let Ok(h) = c.allocate(layout(size, align)) else {
            return false;
        };
        let id = self.next_id;
        self.next_id += 1;
        let mut g = c.get_mut(h).expect("fresh block writable");
        for (i, b) in g.iter_mut().enumerate() {
            *b = pattern(id, i);
        }
        drop(g);
        self.blocks.push((h, id, align));
        true
    }

    fn verify(&self, c: &Compact) {
        c.check().unwrap();
        let mut spans = Vec::new();
        for &(h, id, align) in &self.blocks {
            let g = c.get(h).expect("live block reachable");
            assert_eq!(g.as_ptr().addr() % align, 0);
            assert!(
                g.iter().enumerate().all(|(i, &b)| b == pattern(id, i)),
                "block {id} lost its bytes"
            );
            spans.push((g.as_ptr().addr(), g.len()));
        }
        spans.sort_unstable();
        for w in spans.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "overlap {w:?}");
        }
    }
}

/// Unlimited-budget defragmentation (batches of evacuations, groups of short
/// moves, slide runs) with a callback that frees, allocates, pins, writes
/// and defragments between steps.
#[test]
fn reentrant_callbacks_during_batches_and_groups() {
    let rounds = if cfg!(miri) { 1 } else { 400 };
    for seed in 0..rounds {
        let handles = if cfg!(miri) { 128 } else { 4096 };
        let (fence, memory) = Fenced::new(
            Compact::bytes_for(if cfg!(miri) { 8 * 1024 } else { 256 * 1024 }, handles),
            0,
            32,
        );
        let c = Compact::new(memory, handles);
        let mut rng = Rng(seed * 7919 + 1);
        let live = RefCell::new(Live {
            blocks: Vec::new(),
            next_id: 1,
        });
        let n = if cfg!(miri) { 30 } else { 3000 };
        for _ in 0..n {
            let big = rng.below(8) == 0;
            let size = 1 + rng.below(if big { 3000 } else { 100 });
            let align = [8, 8, 16, 64][rng.below(4)];
            if !live.borrow_mut().alloc(&c, size, align) {
                break;
            }
        }
        {
            let mut l = live.borrow_mut();
            let mut i = 0;
            while i < l.blocks.len() {
                if rng.below(3) != 0 {
                    let (h, _, _) = l.blocks.swap_remove(i);
                    c.free(h).unwrap();
                }
                i += 1;
            }
        }
        let rng = RefCell::new(Rng(seed + 99));
        let depth = Cell::new(0);
        let kept = RefCell::new(Vec::new());
        let mut callback = |step: &flight_mem::DefragStep| {
            let action = rng.borrow_mut().below(10);
            match action {
                0 | 1 => {
                    let mut l = live.borrow_mut();
                    if !l.blocks.is_empty() {
                        let at = rng.borrow_mut().below(l.blocks.len());
                        let (h, _, _) = l.blocks[at];
                        if c.free(h).is_ok() {
                            l.blocks.swap_remove(at);
                        }
                    }
                }
                2 | 3 => {
                    let size = 1 + rng.borrow_mut().below(400);
                    live.borrow_mut().alloc(&c, size, 16);
                }
                4 => {
                    if let Some(g) = c.get(step.handle) {
                        kept.borrow_mut().push(g);
                    }
                }
                5 if depth.get() < 2 => {
                    depth.set(depth.get() + 1);
                    c.defragment(DefragBudget {
                        max_bytes: 4096,
                        max_moves: 40,
                    });
                    depth.set(depth.get() - 1);
                }
                6 => {
                    let mut k = kept.borrow_mut();
                    if !k.is_empty() {
                        k.remove(0);
                    }
                }
                _ => {}
            }
        };
        c.defragment_with(DefragBudget::UNLIMITED, &mut callback);
        live.borrow().verify(&c);
        kept.borrow_mut().clear();
        let report = c.defragment(DefragBudget::UNLIMITED);
        assert!(report.done());
        live.borrow().verify(&c);
        assert!(fence.intact());
    }
}

/// A callback that panics at a random step of an unlimited call (inside a
/// batch or a group) leaves every block in place with its bytes, and the
/// next call finishes the work.
#[test]
fn a_callback_panicking_inside_a_batch_leaves_a_consistent_allocator() {
    let rounds = if cfg!(miri) { 1 } else { 200 };
    for seed in 0..rounds {
        let handles = if cfg!(miri) { 128 } else { 2048 };
        let (fence, memory) = Fenced::new(
            Compact::bytes_for(if cfg!(miri) { 8 * 1024 } else { 128 * 1024 }, handles),
            0,
            32,
        );
        let c = Compact::new(memory, handles);
        let mut rng = Rng(seed * 31 + 5);
        let mut live = Live {
            blocks: Vec::new(),
            next_id: 1,
        };
        let n = if cfg!(miri) { 30 } else { 1500 };
        for _ in 0..n {
            let size = 1 + rng.below(120);
            if !live.alloc(&c, size, [8, 16, 32][rng.below(3)]) {
                break;
            }
        }
        let mut i = 0;
        while i < live.blocks.len() {
            if rng.below(2) == 0 {
                let (h, _, _) = live.blocks.swap_remove(i);
                c.free(h).unwrap();
            }
            i += 1;
        }
        for _ in 0..3 {
            let at = 1 + rng.below(40);
            let count = Cell::new(0);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                c.defragment_with(
                    DefragBudget::UNLIMITED,
                    &mut |_: &flight_mem::DefragStep| {
                        count.set(count.get() + 1);
                        if count.get() == at {
                            panic!("callback panics");
                        }
                    },
                )
            }));
            let _ = result;
            live.verify(&c);
        }
        assert!(c.defragment(DefragBudget::UNLIMITED).done());
        live.verify(&c);
        assert!(fence.intact());
    }
}

/// A block of one `SmallFront` freed through another front (or its handle)
/// over a heap of the same type, or with a layout of another class, is
/// refused with nothing changed; layouts at every class edge get a block of
/// at least their size and alignment; zero sizes and huge alignments are
/// errors, never panics.
#[test]
fn small_fronts_refuse_each_others_blocks_and_serve_class_edges() {
    use flight_mem::{AllocError, SmallFront, Tlsf};
    let (fa, ma) = Fenced::new(if cfg!(miri) { 512 << 10 } else { 4 << 20 }, 0, 32);
    // `b` only refuses: a heap of one slab's worth is enough.
    let (fb, mb) = Fenced::new(128 << 10, 0, 32);
    let a = SmallFront::new(Tlsf::new(ma));
    let b = SmallFront::new(Tlsf::new(mb));
    let lb = b.local();
    let l16 = layout(16, 8);
    let x = a.allocate(l16).unwrap().cast::<u8>();
    // SAFETY: each free below is refused by a documented check: a pointer
    // outside the front's heap without reading it, a block freed with
    // another class's layout on its slab header's class (the slab is live).
    unsafe {
        assert_eq!(b.free(x, l16), Err(AllocError::ForeignPointer));
        assert_eq!(lb.free(x, l16), Err(AllocError::ForeignPointer));
        assert_eq!(a.free(x, layout(48, 16)), Err(AllocError::ForeignPointer));
        assert_eq!(a.free(x, layout(200, 8)), Err(AllocError::ForeignPointer));
    }
    assert_eq!(a.stats().live, 1);
    a.check().unwrap();
    // SAFETY: `x` came from `a` with `l16` and is not used again.
    unsafe { a.free(x, l16) }.unwrap();
    // SAFETY: the second free, ordered after the first.
    assert_eq!(unsafe { a.free(x, l16) }, Err(AllocError::DoubleFree));

    let la = a.local();
    let mut held = Vec::new();
    let edges: &[usize] = if cfg!(miri) {
        &[16, 17, 4096]
    } else {
        &[
            1, 15, 16, 17, 112, 128, 129, 160, 161, 255, 256, 257, 1024, 3584, 3585, 4095, 4096,
            4097,
        ]
    };
    for &size in edges {
        for &align in if cfg!(miri) {
            &[8, 4096][..]
        } else {
            &[1, 8, 16, 64, 512, 4096][..]
        } {
            let l = layout(size, align);
            for (which, block) in [a.allocate(l), la.allocate(l)].into_iter().enumerate() {
                let block = block.unwrap_or_else(|e| panic!("{size}/{align}: {e:?}"));
                assert!(block.len() >= size);
                assert_eq!(
                    block.cast::<u8>().as_ptr().addr() % align,
                    0,
                    "{size}/{align}"
                );
                // SAFETY: a fresh block of at least `size` bytes.
                unsafe { block.cast::<u8>().as_ptr().write_bytes(0xA5, block.len()) };
                held.push((block.cast::<u8>(), l, which));
            }
        }
    }
    for bad in [
        layout(0, 8),
        layout(8, 1 << 30),
        layout(isize::MAX as usize - 4095, 4096),
    ] {
        assert!(a.allocate(bad).is_err());
        assert!(la.allocate(bad).is_err());
    }
    for (ptr, l, which) in held.drain(..).rev() {
        // SAFETY: each block came from `a` (or its handle) with `l`.
        let freed = unsafe {
            if which == 0 {
                la.free(ptr, l)
            } else {
                a.free(ptr, l)
            }
        };
        freed.unwrap();
    }
    drop((la, lb));
    assert_eq!(a.stats().live, 0);
    a.check().unwrap();
    b.check().unwrap();
    assert!(fa.intact() && fb.intact());
}

/// A local handle's chunk claimed inside a shared scope, emptied by a local
/// scope and retired while it is the last claim, rolls back to the word
/// before its claim, so the shared scope's rollback then finds its own word;
/// blocks of the handle and of both scopes never share bytes.
#[test]
fn local_chunk_rollbacks_and_shared_scope_rollbacks_compose() {
    use flight_mem::Linear;
    let (fence, memory) = Fenced::new(64 * 1024, 0, 32);
    let lin = Linear::new(memory);
    let mut kept: Vec<(*mut u8, usize, u8)> = Vec::new();
    let put = |p: *mut u8, n: usize, v: u8| {
        // SAFETY: a live block of `lin`, ours alone.
        unsafe { p.write_bytes(v, n) }
    };
    let mut keeper = lin.local();
    let k = keeper
        .allocate(layout(24, 8))
        .unwrap()
        .cast::<u8>()
        .as_ptr();
    put(k, 24, 1);
    kept.push((k, 24, 1));
    let rounds = if cfg!(miri) { 4 } else { 50 };
    for round in 0..rounds {
        let before = lin.stats().used;
        lin.scope(|s| {
            let a = s.alloc_layout(layout(40, 8)).unwrap().cast::<u8>().as_ptr();
            put(a, 40, 0xAA);
            let mut h = lin.local();
            h.scope(|ls| {
                let x = ls
                    .alloc_layout(layout(64, 16))
                    .unwrap()
                    .cast::<u8>()
                    .as_ptr();
                put(x, 64, 0xBB);
                // The keeper's chunk is not the last claim: it must
                // claim elsewhere or fit, never reuse `x` or `a`.
                let y = keeper
                    .allocate(layout(200, 8))
                    .unwrap()
                    .cast::<u8>()
                    .as_ptr();
                put(y, 200, 2 + round as u8);
                kept.push((y, 200, 2 + round as u8));
                ls.scope(|inner| {
                    let z = inner
                        .alloc_layout(layout(32, 8))
                        .unwrap()
                        .cast::<u8>()
                        .as_ptr();
                    put(z, 32, 0xCC);
                });
            });
            drop(h);
            let b = s.alloc_layout(layout(8, 8)).unwrap().cast::<u8>().as_ptr();
            put(b, 8, 0xDD);
        });
        keeper.scope(|ls| {
            let t = ls
                .alloc_layout(layout(16, 8))
                .unwrap()
                .cast::<u8>()
                .as_ptr();
            put(t, 16, 0xEE);
        });
        for &(p, n, v) in &kept {
            // SAFETY: live blocks of `lin`.
            let bytes = unsafe { core::slice::from_raw_parts(p, n) };
            assert!(
                bytes.iter().all(|&x| x == v),
                "round {round}: a kept block was overwritten"
            );
        }
        assert!(lin.stats().used >= before);
        lin.check().unwrap();
    }
    drop(keeper);
    lin.check().unwrap();
    assert!(fence.intact());
}

/// A block sent between threads: its pointer, size and alignment.
struct Sent(core::ptr::NonNull<u8>, usize, usize);
// SAFETY: the receiver owns the block from the send on (test only).
unsafe impl Send for Sent {}

/// `SmallLocal` is `Send`: handles on two threads allocate, pass blocks to
/// each other and free them through the other handle and the front itself,
/// with a handle moved to the second thread mid-way. Under Miri this checks
/// the slab headers, live bytes and class locks for data races.
#[test]
fn small_handles_on_two_threads_free_each_others_blocks() {
    use flight_mem::{SmallFront, Tlsf};
    use std::sync::mpsc;
    let (fence, memory) = Fenced::new(if cfg!(miri) { 512 << 10 } else { 8 << 20 }, 0, 32);
    let front = SmallFront::new(Tlsf::new(memory));
    let rounds = if cfg!(miri) { 12 } else { 2000 };
    // Under Miri a few classes only: each class takes a 64 KiB slab.
    let spread = if cfg!(miri) { 40 } else { 120 };
    let moved = front.local();
    std::thread::scope(|s| {
        let (to_b, from_a) = mpsc::channel::<Sent>();
        let (to_a, from_b) = mpsc::channel::<Sent>();
        let front = &front;
        s.spawn(move || {
            let mine = moved;
            for i in 0..rounds {
                let size = 8 + (i * 37) % spread;
                let p = mine.allocate(layout(size, 8)).unwrap().cast::<u8>();
                // SAFETY: a fresh block of at least `size` bytes.
                unsafe { p.as_ptr().write_bytes(i as u8, size) };
                to_a.send(Sent(p, size, 8)).unwrap();
                if let Ok(Sent(p, size, align)) = from_a.try_recv() {
                    // SAFETY: a live block of `front` allocated with
                    // `layout(size, align)`, sent here after its writes.
                    unsafe { mine.free(p, layout(size, align)) }.unwrap();
                }
            }
            drop(to_a);
            for Sent(p, size, align) in from_a {
                // SAFETY: as above.
                unsafe { front.free(p, layout(size, align)) }.unwrap();
            }
        });
        let mine = front.local();
        for i in 0..rounds {
            let size = 16 + (i * 53) % spread;
            let p = mine.allocate(layout(size, 16)).unwrap().cast::<u8>();
            // SAFETY: a fresh block.
            unsafe { p.as_ptr().write_bytes(0x5A, size) };
            to_b.send(Sent(p, size, 16)).unwrap();
            if let Ok(Sent(p, size, align)) = from_b.try_recv() {
                // SAFETY: a live block of `front` allocated with
                // `layout(size, align)` on the other thread, sent after its
                // writes; read before freeing.
                std::hint::black_box(unsafe { p.as_ptr().read() });
                // SAFETY: as above.
                unsafe { mine.free(p, layout(size, align)) }.unwrap();
            }
        }
        drop(to_b);
        for Sent(p, size, align) in from_b {
            // SAFETY: as above.
            unsafe { mine.free(p, layout(size, align)) }.unwrap();
        }
    });
    assert_eq!(front.stats().live, 0);
    front.check().unwrap();
    assert!(fence.intact());
}

/// Forgotten handles (a leak, which safe code may cause) leave the shared
/// allocators consistent: `check` passes, statistics do not panic, and
/// everything the handles did not hold stays usable.
#[test]
fn forgotten_magazines_and_small_handles_leave_checks_passing() {
    use flight_mem::{BlockPool, Pool, SmallFront, Tlsf};
    let (_fp, mp) = Fenced::new(2 * 1024, 0, 32);
    let pool = BlockPool::new(mp, 64, 8);
    let mag = pool.local();
    let held: Vec<_> = (0..5)
        .map(|_| mag.allocate(layout(64, 8)).unwrap())
        .collect();
    // SAFETY: blocks of `pool`, not used again.
    unsafe { mag.free(held[0].cast()) }.unwrap();
    core::mem::forget(mag);
    pool.check().unwrap();
    let _ = pool.stats();
    let mut n = 0;
    while pool.allocate(layout(64, 8)).is_ok() {
        n += 1;
    }
    assert!(n > 0);
    pool.check().unwrap();

    let (_ft, mt) = Fenced::new(4 * 1024, 0, 32);
    let typed: Pool<[u64; 2]> = Pool::new(mt);
    let tm = typed.local();
    let b = tm.alloc([1, 2]).unwrap();
    tm.free(b);
    core::mem::forget(tm);
    typed.check().unwrap();
    let _ = typed.stats();

    let (_fs, ms) = Fenced::new(192 * 1024, 0, 32);
    let front = SmallFront::new(Tlsf::new(ms));
    let local = front.local();
    let x = local.allocate(layout(24, 8)).unwrap();
    let y = local.allocate(layout(24, 8)).unwrap();
    // SAFETY: a block of `front` with this layout, not used again.
    unsafe { local.free(x.cast(), layout(24, 8)) }.unwrap();
    core::mem::forget(local);
    front.check().unwrap();
    let _ = front.stats();
    front.release_empty();
    front.check().unwrap();
    // SAFETY: `y` came from `front` with this layout.
    unsafe { front.free(y.cast(), layout(24, 8)) }.unwrap();
    front.release_empty();
    front.check().unwrap();
    let _ = front.stats();
}

/// `Linear::reset_to`'s contract excluded only a live handle that *claimed*
/// a chunk after the checkpoint. A handle that claimed its chunk before the
/// checkpoint and then grew it in place (`extend`, one CAS from its own
/// word) owns bytes past the checkpoint too: `reset_to` gives them to the
/// shared bump while the handle keeps allocating there, so two live blocks
/// share bytes although every documented condition held (no block allocated
/// after the checkpoint is used after the call, no scope open, no handle
/// that claimed after it). The contract now excludes any live handle whose
/// chunk reaches past the checkpoint; this test keeps the hazard visible, so
/// a change that makes growth checkpoint-aware can relax the clause.
#[test]
fn a_chunk_grown_past_a_checkpoint_is_handed_out_again_by_reset_to() {
    use flight_mem::Linear;
    let (fence, memory) = Fenced::new(64 * 1024, 0, 32);
    let base = memory.as_ptr().addr();
    let lin = Linear::new(memory);
    let handle = lin.local();
    // The claim: the handle's first chunk, before the checkpoint.
    handle.allocate(layout(8, 8)).unwrap();
    let checkpoint = lin.checkpoint();
    // Fill the chunk; the next allocation grows it in place past the
    // checkpoint (nothing else was claimed since).
    while handle.remaining() >= 8 {
        handle.allocate(layout(8, 8)).unwrap();
    }
    let grown = handle.allocate(layout(8, 8)).unwrap().cast::<u8>();
    assert!(
        grown.as_ptr().addr() >= base + checkpoint.offset(),
        "the block lies in the grown part, past the checkpoint"
    );
    // SAFETY: the old contract's letter holds: `grown` and the other
    // blocks allocated after the checkpoint are not used after this call, no
    // scope is open, and the live handle claimed its chunk before the
    // checkpoint. (The new contract forbids this call, since the handle's
    // chunk reaches past the checkpoint: the test shows why. No byte is
    // accessed through the overlapping blocks below, only their addresses.)
    unsafe { lin.reset_to(checkpoint) };
    let local = handle.allocate(layout(8, 8)).unwrap().cast::<u8>();
    let shared = lin.allocate(layout(4096, 8)).unwrap().cast::<u8>();
    let (l, s) = (local.as_ptr().addr(), shared.as_ptr().addr());
    assert!(
        s <= l && l < s + 4096,
        "the shared block covers the handle's new block: reset_to handed its bytes out again"
    );
    drop(handle);
    assert!(fence.intact());
}
