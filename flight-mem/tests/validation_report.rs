//! `ValidationReport`: a fixed number of problems kept inline, the rest
//! counted.

use flight_mem::{GuardBreach, InvariantViolation, Problem, ProblemKind, ValidationReport};

#[test]
fn a_report_keeps_sixteen_problems_and_counts_the_rest() {
    let mut report = ValidationReport::new("Game");
    assert!(report.is_ok());
    for offset in 0..20 {
        report.push(Problem {
            region: "heap",
            kind: ProblemKind::GuardBreach(GuardBreach { offset, found: 0 }),
        });
    }
    assert!(!report.is_ok());
    assert_eq!(report.problems().count(), ValidationReport::CAPACITY);
    assert_eq!((report.overflow(), report.count()), (4, 20));
    let offsets: Vec<usize> = report
        .problems()
        .map(|p| match p.kind {
            ProblemKind::GuardBreach(b) => b.offset,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        offsets,
        (0..16).collect::<Vec<_>>(),
        "the first ones are kept"
    );
    let text = report.to_string();
    assert!(text.starts_with("layout `Game`: 20 problem(s)\n"), "{text}");
    assert!(text.ends_with("… and 4 more\n"), "{text}");
}

#[test]
fn invariant_problems_print_with_their_region() {
    let mut report = ValidationReport::new("Game");
    report.push(Problem {
        region: "assets",
        kind: ProblemKind::Invariant(InvariantViolation {
            what: "free list loops",
            offset: 0x40,
        }),
    });
    assert_eq!(
        report.to_string(),
        "layout `Game`: 1 problem(s)\n  `assets`: allocator invariant broken: free list loops (at offset 0x40)\n"
    );
}
