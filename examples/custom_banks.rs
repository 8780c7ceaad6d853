//! A board declared with its own banks: an MCU with fast core-coupled RAM,
//! DMA-capable SRAM, and external PSRAM holding the frame buffer.
//!
//! On the board the banks sit at fixed addresses (`unsafe bank .. { base:
//! .. }`, shown in `board` below, compiled for bare-metal targets only);
//! on a PC the same plan runs with static arrays standing in for the banks.
//!
//! `cargo run --release --example custom_banks`

use core::alloc::Layout;

use flight_mem::allocator_api2::vec::Vec as BankVec;
use flight_mem::memory_layout;

memory_layout! {
    /// The board, simulated on the host.
    pub layout Board {
        guard = 32 B;
        align = 8;
        /// Core-coupled RAM: fast, no DMA.
        bank ccm = 64 KiB { memory: [Stack, Temporary] };
        /// Main SRAM, reachable by DMA.
        bank sram = 256 KiB { memory: [System, Pool, Network], flags: [dma, cacheable] };
        /// External PSRAM on the memory bus.
        bank psram = 8 MiB { memory: Video };

        stack irq = 4 KiB;
        frame scratch = [16 KiB; 2];
        region heap = 160 KiB;
        pool rx = [1536 B; 16] { memory: Network, flags: [dma] };
        region framebuffer = 640 KiB { memory: Video, allocator: buddy };
    }
}

/// The same plan at the board's real addresses; only meaningful where those
/// addresses are RAM, so compiled for bare-metal targets only.
#[cfg(target_os = "none")]
pub mod board {
    use flight_mem::memory_layout;

    memory_layout! {
        pub layout Board {
            guard = 32 B;
            align = 8;
            unsafe bank ccm = 64 KiB { base: 0x1000_0000, memory: [Stack, Temporary] };
            unsafe bank sram = 256 KiB { base: 0x2000_0000, memory: [System, Pool, Network], flags: [dma] };
            unsafe bank psram = 8 MiB { base: 0x9000_0000, memory: Video };
            stack irq = 4 KiB;
            frame scratch = [16 KiB; 2];
            region heap = 160 KiB;
            pool rx = [1536 B; 16] { memory: Network, flags: [dma] };
            region framebuffer = 640 KiB { memory: Video, allocator: buddy };
        }
    }
}

fn main() {
    println!("{}", Board::map());

    // A frame buffer of 320x240 RGB565 in PSRAM, as a collection.
    let mut pixels: BankVec<u16, _> = BankVec::new_in(Board::framebuffer());
    pixels.resize(320 * 240, 0x07E0);
    assert_eq!(
        Board::owner_of(core::ptr::NonNull::from(&pixels[0]).cast()).map(|r| r.bank),
        Some("psram")
    );

    // Received packets land in DMA-capable SRAM.
    let packet = Board::alloc_rx(Layout::from_size_align(1500, 4).expect("valid"))
        .expect("a free rx buffer");
    let owner = Board::owner_of(packet.cast()).expect("the rx pool owns it");
    println!(
        "rx buffer in bank `{}` with flags {:?}",
        owner.bank, owner.flags
    );
    // SAFETY: the packet was handled and is not used again.
    unsafe {
        Board::free_rx(
            packet.cast(),
            Layout::from_size_align(1500, 4).expect("valid"),
        )
    };

    // Interrupt handlers borrow from the core-coupled stack.
    let frame = Board::alloc_irq(Layout::new::<[u32; 64]>()).expect("irq stack space");
    // SAFETY: freed in LIFO order, not used again.
    unsafe { Board::free_irq(frame.cast(), Layout::new::<[u32; 64]>()) };

    println!("{}", Board::stats());
}
