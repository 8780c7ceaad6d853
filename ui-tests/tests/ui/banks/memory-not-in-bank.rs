use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        region textures = 4 MiB { bank: vram, memory: Audio };
    }
}

fn main() {}
