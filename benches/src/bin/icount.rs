//! Callgrind driver: runs one workload for one contender `n` times, and
//! nothing else, so that under `valgrind --tool=callgrind`
//! `(Ir(n2) - Ir(n1)) / (n2 - n1)` is the instruction count of one operation
//! with every constant (start-up, arena creation, reset) cancelled out.
//!
//! ```text
//! icount list <workload>              # contender names, one a line
//! icount <workload> <contender> <n>   # workload: w1 | w2a | w3
//! ```
//!
//! `benches/run.sh` drives it.

use std::hint::black_box;
use std::process::ExitCode;

use flight_mem_benches::limits::HarnessOnly;
use flight_mem_benches::plan;
use flight_mem_benches::workload;
use flight_mem_benches::{Reset, Subject, general_contenders, lifo_contenders, linear_contenders};

struct Request<'a> {
    list: bool,
    name: &'a str,
    n: usize,
    found: bool,
}

fn linear<S: Reset>(request: &mut Request<'_>) {
    if request.list {
        println!("{}", S::NAME);
    } else if request.name == S::NAME {
        let mut subject = S::create(plan::LINEAR_ARENA);
        let served = workload::linear(&mut subject, black_box(request.n));
        assert_eq!(served, request.n, "{} refused allocations", S::NAME);
        request.found = true;
    }
}

fn pool_lifo<S: Subject>(request: &mut Request<'_>) {
    if request.list {
        println!("{}", S::NAME);
    } else if request.name == S::NAME {
        let mut subject = S::create(plan::POOL_ARENA);
        let served = workload::pool_lifo(&mut subject, black_box(request.n));
        assert_eq!(served, request.n, "{} refused allocations", S::NAME);
        request.found = true;
    }
}

/// Workload 3: the plan is always the full one, so generating it costs the
/// same for every `n` and cancels out; `n` operations of it are run.
fn general<S: Subject>(request: &mut Request<'_>) {
    if request.list {
        println!("{}", S::NAME);
    } else if request.name == S::NAME {
        let churn = plan::general_churn(plan::SEED, plan::GENERAL_OPS);
        let mut subject = S::create(plan::GENERAL_ARENA);
        let mut live = Vec::with_capacity(plan::GENERAL_LIVE + 1);
        assert!(workload::fill(&mut subject, &churn, &mut live));
        let steps = &churn.steps[..black_box(request.n) / 2];
        assert_eq!(workload::churn_steps(&mut subject, steps, &mut live), 0);
        workload::drain(&mut subject, &mut live);
        request.found = true;
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut request = match args.as_slice() {
        [list, _] if list == "list" => Request {
            list: true,
            name: "",
            n: 0,
            found: true,
        },
        [_, name, n] => Request {
            list: false,
            name,
            n: n.parse().expect("n is a count"),
            found: false,
        },
        _ => {
            eprintln!("usage: icount list <w1|w2a|w3> | icount <w1|w2a|w3> <contender> <n>");
            return ExitCode::FAILURE;
        }
    };
    let workload = if request.list { &args[1] } else { &args[0] };
    match workload.as_str() {
        "w1" => {
            linear::<HarnessOnly>(&mut request);
            linear_contenders!(linear(&mut request));
        }
        "w2a" => {
            pool_lifo::<HarnessOnly>(&mut request);
            lifo_contenders!(pool_lifo(&mut request));
        }
        "w3" => {
            general::<HarnessOnly>(&mut request);
            general_contenders!(general(&mut request));
            general::<flight_mem_benches::small::FmSmallShared>(&mut request);
            general::<flight_mem_benches::small::FmSmallLocal>(&mut request);
        }
        other => {
            eprintln!("unknown workload {other}");
            return ExitCode::FAILURE;
        }
    }
    if request.found {
        ExitCode::SUCCESS
    } else {
        eprintln!("unknown contender {}", request.name);
        ExitCode::FAILURE
    }
}
