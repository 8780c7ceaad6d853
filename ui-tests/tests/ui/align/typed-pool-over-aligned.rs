// A value type whose alignment exceeds what the bank's start provides is
// caught by the bank's alignment assertion, named after the layout and bank.
use flight_mem::memory_layout;

#[repr(align(8192))]
pub struct Page(pub [u8; 8192]);

memory_layout! {
    pub layout Game for Desktop {
        budget = 1 MiB;
        pool pages = [Page; 4];
    }
}

fn main() {}
