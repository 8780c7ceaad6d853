// A small plan for every built-in platform, and two layouts in one call.
use flight_mem::memory_layout;

memory_layout! {
    pub layout OnDreamcast for Dreamcast { region heap = 1 MiB; region tex = 1 MiB { memory: Video }; }
    pub layout OnPsx for Psx { region heap = 512 KiB; frame scratch = 512 B { bank: scratch }; }
    pub layout OnPsp for Psp { region heap = 4 MiB; region audio = 1 MiB { memory: Audio }; }
    pub layout OnPsp2000 for Psp2000 { region heap = 40 MiB; }
    pub layout OnGba for Gba { region heap = 128 KiB; stack fast = 16 KiB; }
    pub layout OnN64 for N64 { region heap = 2 MiB; }
    pub layout OnWasm for Wasm32 { budget = 64 MiB; region heap = 32 MiB; }
    pub layout OnDesktop for Desktop { budget = 256 MiB; region heap = 64 MiB; }
    layout Plain { budget = 1 MiB; region heap = 512 KiB; }
    layout Empty for Gba {}
}

fn main() {
    assert_eq!(OnGba::regions()[1].bank, "iwram");
    assert_eq!(Plain::banks()[0].name, "main");
}
