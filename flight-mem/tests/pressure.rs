//! Pressure levels, edge detection and the callback table.

use std::sync::Mutex;

use flight_mem::{
    PressureCallbacks, PressureChange, PressureError, PressureInfo, PressureLevel,
    PressureThresholds, PressureWatch,
};

/// Every call made, per test (each test uses its own static log).
type Log = Mutex<Vec<(PressureLevel, &'static str, PressureLevel)>>;

#[test]
fn levels_follow_the_thresholds_inclusively() {
    let t = PressureThresholds::DEFAULT;
    assert_eq!(t.level(51, 100), PressureLevel::None);
    assert_eq!(t.level(50, 100), PressureLevel::Low);
    assert_eq!(t.level(25, 100), PressureLevel::Medium);
    assert_eq!(t.level(11, 100), PressureLevel::Medium);
    assert_eq!(t.level(10, 100), PressureLevel::High);
    assert_eq!(t.level(5, 100), PressureLevel::Critical);
    assert_eq!(t.level(0, 100), PressureLevel::Critical);
    assert_eq!(t.level(0, 0), PressureLevel::Critical);
    // No overflow for sizes near usize::MAX.
    assert_eq!(t.level(usize::MAX, usize::MAX), PressureLevel::None);
    let custom = PressureThresholds([90, 80, 70, 60]);
    assert_eq!(custom.level(85, 100), PressureLevel::Low);
}

#[test]
fn callbacks_fire_once_per_rising_transition_and_again_after_recovery() {
    static LOG: Log = Mutex::new(Vec::new());
    static TABLE: PressureCallbacks = PressureCallbacks::new();
    static WATCH: PressureWatch = PressureWatch::new();
    fn on_medium(level: PressureLevel, info: &PressureInfo) {
        LOG.lock()
            .unwrap()
            .push((PressureLevel::Medium, info.region, level));
    }
    fn on_critical(level: PressureLevel, info: &PressureInfo) {
        LOG.lock()
            .unwrap()
            .push((PressureLevel::Critical, info.region, level));
    }
    TABLE.register(PressureLevel::Medium, on_medium).unwrap();
    TABLE
        .register(PressureLevel::Critical, on_critical)
        .unwrap();
    let t = PressureThresholds::DEFAULT;
    let step = |free: usize| TABLE.notify("heap", WATCH.update(free, 100, t), free, 100);

    assert_eq!(step(60), 0); // None
    assert_eq!(step(40), 0); // Low: nobody registered for Low
    assert_eq!(step(20), 1); // Medium: on_medium
    assert_eq!(step(15), 0); // still Medium
    assert_eq!(step(3), 1); // Critical: on_critical only, Medium was already crossed
    assert_eq!(step(2), 0); // still Critical
    assert_eq!(step(80), 0); // recovered: falls call nothing
    assert_eq!(step(1), 2); // None -> Critical crosses both
    let log = LOG.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            (PressureLevel::Medium, "heap", PressureLevel::Medium),
            (PressureLevel::Critical, "heap", PressureLevel::Critical),
            (PressureLevel::Medium, "heap", PressureLevel::Critical),
            (PressureLevel::Critical, "heap", PressureLevel::Critical),
        ]
    );
    assert_eq!(WATCH.level(), PressureLevel::Critical);
}

#[test]
fn failure_runs_every_callback_once() {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static TABLE: PressureCallbacks = PressureCallbacks::new();
    fn count(_: PressureLevel, info: &PressureInfo) {
        assert_eq!(info.free, 10);
        COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    TABLE.register(PressureLevel::Low, count).unwrap();
    TABLE.register(PressureLevel::Critical, count).unwrap();
    let info = PressureInfo {
        region: "video",
        level: PressureLevel::Low,
        free: 10,
        total: 100,
    };
    assert_eq!(TABLE.notify_failure(&info), 2);
    assert_eq!(COUNT.load(std::sync::atomic::Ordering::Relaxed), 2);
}

#[test]
fn the_table_is_bounded_and_slots_are_reusable() {
    let table = PressureCallbacks::new();
    fn noop(_: PressureLevel, _: &PressureInfo) {}
    assert_eq!(
        table.register(PressureLevel::None, noop),
        Err(PressureError::NoLevel)
    );
    let ids: Vec<_> = (0..PressureCallbacks::CAPACITY)
        .map(|_| table.register(PressureLevel::High, noop).unwrap())
        .collect();
    assert_eq!(table.len(), PressureCallbacks::CAPACITY);
    assert_eq!(
        table.register(PressureLevel::High, noop),
        Err(PressureError::TableFull)
    );
    assert!(table.unregister(ids[3]));
    assert!(!table.unregister(ids[3]), "a second unregister is refused");
    assert!(table.register(PressureLevel::Low, noop).is_ok());
    assert_eq!(table.len(), PressureCallbacks::CAPACITY);
}

#[test]
fn racing_threads_see_one_transition() {
    static WATCH: PressureWatch = PressureWatch::new();
    let changes: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| WATCH.update(1, 100, PressureThresholds::DEFAULT).is_some() as usize)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(changes, 1);
    assert_eq!(
        WATCH.update(90, 100, PressureThresholds::DEFAULT),
        Some(PressureChange {
            from: PressureLevel::Critical,
            to: PressureLevel::None
        })
    );
}
