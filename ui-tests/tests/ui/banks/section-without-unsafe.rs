// `link_section` is an unsafe attribute: a bank's storage in `.init_array`
// is called as function pointers before `main` (a null call: SIGSEGV on
// Linux), one in a section the linker maps read-only faults on the first
// allocation. The macro cannot check the section, so a safe `bank` may not
// name one (audit11); an `unsafe bank` may.
use flight_mem::memory_layout;

memory_layout! {
    pub layout Board {
        bank startup = 64 KiB { section: ".init_array" };
        region heap = 16 KiB { bank: startup };
    }
}

fn main() {
    let _ = Board::alloc_heap(core::alloc::Layout::new::<u64>());
}
