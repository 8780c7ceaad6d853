// A board with its own banks: one at a fixed address (bare metal), one in a
// link section, one simulated by a static array.
use flight_mem::memory_layout;

memory_layout! {
    /// A microcontroller board.
    pub(crate) layout Board {
        guard = 0 B;
        align = 8;
        /// Tightly coupled memory at its fixed address.
        unsafe bank dtcm = 128 KiB { base: 0x2000_0000, memory: [Stack, Temporary] };
        unsafe bank sram = 256 KiB { memory: [System, Pool, Network], flags: [dma], section: ".sram" };
        bank psram = 8 MiB { memory: Video };
        stack irq = 8 KiB;
        frame scratch = [16 KiB; 2];
        region heap = 128 KiB;
        pool rx = [1536 B; 16] { memory: Network, flags: [dma] };
        region framebuffer = 600 KiB { memory: Video, allocator: buddy };
    }
}

fn main() {
    let banks = Board::banks();
    assert_eq!(banks.len(), 3);
    assert!(banks[0].fixed);
}
