use flight_mem::memory_layout;

memory_layout! {
    pub layout Board {
        unsafe bank sram = 256 KiB { base: 0x2000_0010 };
        region dma_buffers = 64 KiB { align: 64 };
    }
}

fn main() {}
