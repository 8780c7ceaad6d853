// The tables a layout's guards are armed from are trusted to name memory the
// layout owns, so making one is `unsafe` even through the hidden module.
use flight_mem::__private::{BankParts, bank_info};
use flight_mem::{BankInfo, MemoryFlags, MemoryTypes};

static TARGET: [u8; 64] = [0; 64];

static BANKS: [BankInfo; 1] = [bank_info(BankParts {
    name: "main",
    memory: MemoryTypes::NONE,
    flags: MemoryFlags::empty(),
    budget: 64,
    used: 64,
    address: None,
    fixed: false,
    storage: || TARGET.as_ptr().cast_mut(),
    entries: &[],
})];

fn main() {
    let _ = &BANKS;
}
