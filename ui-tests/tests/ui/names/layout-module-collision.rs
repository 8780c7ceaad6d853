// Two layouts whose names differ only in case or underscores would define
// the same token module; the second layout's name is blamed.
use flight_mem::memory_layout;

memory_layout! {
    pub layout FooBar {
        budget = 16 MiB;
        component a = 1 KiB;
    }
    #[allow(non_camel_case_types)]
    pub layout Foo_Bar {
        budget = 16 MiB;
        component b = 1 KiB;
    }
}

fn main() {}
