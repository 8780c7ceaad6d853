//! Memory over time: the recorder's samples and the chart parsed as XML —
//! one series per entry, axes, budget lines, and marks exactly at the
//! frames where pressure rose and where an allocation failed.

use core::alloc::Layout;
use core::ptr::NonNull;

use flight_mem::{PressureLevel, Timeline, memory_layout};

memory_layout! {
    layout Timed {
        budget = 256 KiB;
        region heap = 64 KiB;
        pool bullets = [64 B; 16];
    }
}

fn kib(n: usize) -> Layout {
    Layout::from_size_align(n << 10, 8).unwrap()
}

/// Runs nine frames that raise the heap's pressure twice, drop it, raise it
/// again and make one allocation fail; returns the recorder, the layout's
/// pressure seen after each frame and the frame that failed.
fn run() -> (Box<Timeline<64, 4>>, Vec<PressureLevel>, u64) {
    let mut timeline = Box::new(Timeline::<64, 4>::new());
    let mut seen = Vec::new();
    let mut heap: Vec<NonNull<[u8]>> = Vec::new();
    let mut bullets = Vec::new();
    let mut failed = None;
    for frame in 0..9u64 {
        match frame {
            1 => heap.push(Timed::alloc_heap(kib(24)).unwrap()),
            2 => heap.push(Timed::alloc_heap(kib(16)).unwrap()),
            4 | 6 => heap.push(Timed::alloc_heap(kib(12)).unwrap()),
            5 => {
                let block = heap.pop().unwrap();
                // SAFETY: the block is live and not used again.
                unsafe { Timed::free_heap(block.cast(), kib(12)) };
            }
            7 => {
                assert!(Timed::alloc_heap(kib(32)).is_err());
                failed = Some(frame);
            }
            _ => {}
        }
        if frame < 4 {
            bullets.push(Timed::alloc_bullets(Layout::new::<[u8; 64]>()).unwrap());
        }
        timeline.record::<Timed>();
        seen.push(Timed::pressure());
    }
    for block in heap {
        // SAFETY: every block is live and not used again.
        unsafe { Timed::free_heap(block.cast(), kib(1)) };
    }
    for bullet in bullets {
        // SAFETY: as above.
        unsafe { Timed::free_bullets(bullet.cast(), Layout::new::<u8>()) };
    }
    (timeline, seen, failed.unwrap())
}

/// One test, so no other test's allocations run while the frames are
/// recorded (the layout is a process-wide static).
#[test]
fn the_recorder_and_its_chart() {
    let (timeline, seen, failed) = run();
    the_recorder_keeps_one_sample_per_frame(&timeline, &seen, failed);
    the_chart_has_a_series_per_entry_axes_a_budget_and_marks(&timeline, &seen, failed);
}

fn the_recorder_keeps_one_sample_per_frame(
    timeline: &Timeline<64, 4>,
    seen: &[PressureLevel],
    failed: u64,
) {
    assert_eq!(timeline.len(), 9);
    assert_eq!(timeline.entries(), 2);
    let frames: Vec<_> = timeline.frames().collect();
    assert_eq!(
        frames.iter().map(|f| f.frame).collect::<Vec<_>>(),
        (0..9).collect::<Vec<_>>()
    );
    assert_eq!(frames.iter().map(|f| f.pressure).collect::<Vec<_>>(), seen);
    // Used grows with the heap blocks; peak never falls.
    assert!(frames[2].entries[0].used > frames[1].entries[0].used);
    assert!(frames[5].entries[0].used < frames[4].entries[0].used);
    assert!(
        frames
            .windows(2)
            .all(|w| w[1].entries[0].peak >= w[0].entries[0].peak)
    );
    assert_eq!(frames[3].entries[1].used, 4 * 64);
    assert_eq!(timeline.failures(0).collect::<Vec<_>>(), [failed]);
    assert_eq!(timeline.failures(1).count(), 0);

    // A ring: the newest samples stay.
    let mut ring = Timeline::<4, 1>::new();
    for _ in 0..10 {
        ring.record::<Timed>();
    }
    assert_eq!(ring.len(), 4);
    assert_eq!(
        ring.frames().map(|f| f.frame).collect::<Vec<_>>(),
        [6, 7, 8, 9]
    );
    assert_eq!(ring.entries(), 1);
}

static EMPTY: Timeline<16, 2> = Timeline::new();

fn the_chart_has_a_series_per_entry_axes_a_budget_and_marks(
    timeline: &Timeline<64, 4>,
    seen: &[PressureLevel],
    failed: u64,
) {
    let rises: Vec<u64> = seen
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[1] > w[0])
        .map(|(i, _)| i as u64 + 1)
        .collect();
    assert_eq!(
        rises.len(),
        3,
        "the run raises pressure three times: {seen:?}"
    );

    let svg = timeline.svg();
    let doc = roxmltree::Document::parse(&svg).expect("the chart is well-formed XML");
    let class_has = |n: &roxmltree::Node, class: &str| {
        n.attribute("class")
            .is_some_and(|c| c.split_whitespace().any(|c| c == class))
    };
    let series: Vec<_> = doc
        .descendants()
        .filter(|n| class_has(n, "series"))
        .collect();
    let names: Vec<_> = series
        .iter()
        .map(|n| n.attribute("data-entry").unwrap())
        .collect();
    assert_eq!(names, ["heap", "bullets"]);
    for s in &series {
        let find = |class: &str| s.descendants().filter(|n| class_has(n, class)).count();
        assert_eq!(find("used"), 1);
        assert_eq!(find("peak"), 1);
        assert_eq!(find("budget"), 1);
        assert_eq!(find("x-axis"), 1);
        assert_eq!(find("y-axis"), 1);
        let used = s.descendants().find(|n| class_has(n, "used")).unwrap();
        let points: Vec<(f64, f64)> = used
            .attribute("points")
            .unwrap()
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        assert_eq!(points.len(), 9, "one point per frame");
        assert!(
            points.windows(2).all(|w| w[1].0 > w[0].0),
            "frames left to right"
        );
        // Every point lies on or under the budget line (SVG y grows down).
        let budget = s.descendants().find(|n| class_has(n, "budget")).unwrap();
        let budget_y: f64 = budget.attribute("y1").unwrap().parse().unwrap();
        assert!(points.iter().all(|&(_, y)| y >= budget_y));
    }
    // The heap's line climbs at frame 2 (SVG y smaller = more bytes).
    let heap_used = series[0]
        .descendants()
        .find(|n| class_has(n, "used"))
        .unwrap();
    let ys: Vec<f64> = heap_used
        .attribute("points")
        .unwrap()
        .split_whitespace()
        .map(|p| p.split_once(',').unwrap().1.parse().unwrap())
        .collect();
    assert!(ys[2] < ys[1] && ys[1] < ys[0]);

    let frames_of = |root: roxmltree::Node, class: &str| -> Vec<u64> {
        root.descendants()
            .filter(|n| class_has(n, "mark") && class_has(n, class))
            .map(|n| n.attribute("data-frame").unwrap().parse().unwrap())
            .collect()
    };
    let band = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("pressure"))
        .expect("a pressure band");
    assert_eq!(frames_of(band, "pressure"), rises);
    // The heap is the only region: its own rises are the layout's.
    assert_eq!(frames_of(series[0], "pressure"), rises);
    assert_eq!(frames_of(series[1], "pressure"), Vec::<u64>::new());
    assert_eq!(frames_of(series[0], "failure"), [failed]);
    assert_eq!(frames_of(series[1], "failure"), Vec::<u64>::new());

    // An empty recorder still renders a valid document.
    assert!(EMPTY.is_empty());
    roxmltree::Document::parse(&EMPTY.svg()).expect("well-formed");
}
