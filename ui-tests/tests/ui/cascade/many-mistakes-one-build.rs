// Every mistake is reported in one build, each at its own token.
use flight_mem::memory_layout;

memory_layout! {
    pub layout Game for Dreamcast {
        regoin heap = 8 MiB;
        region video = 6 MiB { memory: Vidoe };
        stack temp = 256 KB;
        pool particles = [u64; 0];
        pressure { low: 10%, medium: 25% }
    }
}

fn main() {}
