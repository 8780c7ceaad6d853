use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Psp {
        shared frame_data = 1 MiB { access: [physics: write, renderer: read] };
    }
}

fn main() {}
