//! Callgrind driver for workload 2b (pool churn): runs `n` pairs of the
//! full plan for one contender, so that under `valgrind --tool=callgrind`
//! `(Ir(n2) - Ir(n1)) / (n2 - n1)` is the instruction count of one pair
//! (a free and an allocation).
//!
//! ```text
//! icount_w2b list                 # contender names, one a line
//! icount_w2b <contender> <n>
//! ```
//!
//! A binary of its own, not a workload of `icount`: there, a second
//! caller of every pool's `alloc` and `free` (this churn besides
//! workload 2a's LIFO loop) changed LLVM's inlining of both, and with it
//! `icount w2a`'s counts (BlockPool, static: 129 -> 166 instructions per
//! pair with no change to the pool).

use std::hint::black_box;
use std::process::ExitCode;

use flight_mem_benches::limits::HarnessOnly;
use flight_mem_benches::{Subject, plan, pool_contenders, workload};

struct Request<'a> {
    list: bool,
    name: &'a str,
    n: usize,
    found: bool,
}

/// The full plan is generated for every `n` (so its cost cancels out) and
/// its first `n` pairs are run.
fn pool_churn<S: Subject>(request: &mut Request<'_>) {
    if request.list {
        println!("{}", S::NAME);
    } else if request.name == S::NAME {
        let churn = plan::pool_churn(plan::SEED, plan::POOL_CHURN_PAIRS);
        let mut subject = S::create(plan::POOL_ARENA);
        let mut live = Vec::with_capacity(churn.initial.len() + 1);
        assert!(workload::fill(&mut subject, &churn, &mut live));
        let steps = &churn.steps[..black_box(request.n)];
        assert_eq!(workload::churn_steps(&mut subject, steps, &mut live), 0);
        workload::drain(&mut subject, &mut live);
        request.found = true;
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut request = match args.as_slice() {
        [list] if list == "list" => Request {
            list: true,
            name: "",
            n: 0,
            found: true,
        },
        [name, n] => Request {
            list: false,
            name,
            n: n.parse().expect("n is a count"),
            found: false,
        },
        _ => {
            eprintln!("usage: icount_w2b list | icount_w2b <contender> <n>");
            return ExitCode::FAILURE;
        }
    };
    pool_churn::<HarnessOnly>(&mut request);
    pool_contenders!(pool_churn(&mut request));
    if request.found {
        ExitCode::SUCCESS
    } else {
        eprintln!("unknown contender {}", request.name);
        ExitCode::FAILURE
    }
}
