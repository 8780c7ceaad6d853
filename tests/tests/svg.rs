//! The SVG memory map: well-formed XML, one bar per bank, one element per
//! entry, used shares drawn to scale.

use core::alloc::Layout as AllocLayout;

use flight_mem::{Layout, memory_layout};

memory_layout! {
    /// A plan with every entry kind and names that need no escaping, plus
    /// two banks.
    pub layout Mapped for Dreamcast {
        region heap = 4 MiB;
        region textures = 2 MiB { memory: Video, align: 256 };
        frame scratch = [128 KiB; 2];
        stack temp = 64 KiB;
        pool packets = [1536 B; 16];
        reserve emergency = 256 KiB;
    }
}

#[test]
fn the_svg_is_well_formed_with_one_element_per_entry() {
    let _block = Mapped::alloc_heap(AllocLayout::from_size_align(1 << 20, 8).unwrap()).unwrap();
    let svg = Mapped::table().svg();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let class = |node: &roxmltree::Node<'_, '_>, c: &str| node.attribute("class") == Some(c);
    let entries: Vec<_> = root.descendants().filter(|n| class(n, "entry")).collect();
    assert_eq!(entries.len(), Mapped::regions().len());
    let names: Vec<_> = entries
        .iter()
        .map(|e| e.attribute("data-name").unwrap())
        .collect();
    for region in Mapped::regions() {
        assert!(
            names.contains(&region.name),
            "no element for `{}`",
            region.name
        );
    }
    let banks = root.descendants().filter(|n| class(n, "bank")).count();
    assert_eq!(banks, Mapped::banks().len());

    // The heap's used share (1 MiB and a header of 4 MiB) is drawn as the
    // inner bar: about a quarter of the outer one.
    let heap = entries
        .iter()
        .find(|e| e.attribute("data-name") == Some("heap"))
        .unwrap();
    let rects: Vec<f64> = heap
        .children()
        .filter(|n| n.tag_name().name() == "rect")
        .map(|n| n.attribute("width").unwrap().parse().unwrap())
        .collect();
    assert_eq!(rects.len(), 2);
    let share = rects[1] / rects[0];
    assert!((0.24..0.27).contains(&share), "used share drawn as {share}");
    let title = heap
        .children()
        .find(|n| n.tag_name().name() == "title")
        .unwrap();
    assert!(title.text().unwrap().starts_with("heap: region tlsf"));
}

/// Every entry is named under its bar, however thin its span, with a leader
/// line to the span; every guard is drawn.
#[test]
fn every_entry_has_a_label_and_a_leader_and_guards_are_shown() {
    let svg = Mapped::table().svg();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let class = |node: &roxmltree::Node<'_, '_>, c: &str| node.attribute("class") == Some(c);
    for region in Mapped::regions() {
        let entry = doc
            .descendants()
            .find(|n| class(n, "entry") && n.attribute("data-name") == Some(region.name))
            .unwrap();
        let label = doc
            .descendants()
            .find(|n| class(n, "label") && n.attribute("data-name") == Some(region.name))
            .unwrap_or_else(|| panic!("no label for `{}`", region.name));
        // The label is where its leader ends.
        let leader_end: f64 = entry
            .descendants()
            .find(|n| class(n, "leader"))
            .and_then(|l| l.attribute("x2"))
            .unwrap()
            .parse()
            .unwrap();
        let label_x: f64 = label.attribute("x").unwrap().parse().unwrap();
        assert!(
            (label_x - leader_end - 3.0).abs() < 0.01,
            "`{}`",
            region.name
        );
        let text: String = label
            .descendants()
            .filter_map(|n| n.text())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(text.starts_with(region.name), "label `{text}`");
        let leader = entry.descendants().find(|n| class(n, "leader")).unwrap();
        // The leader starts on the span: within its horizontal extent.
        let span = entry
            .children()
            .find(|n| n.tag_name().name() == "rect")
            .unwrap();
        let x = |n: &roxmltree::Node<'_, '_>, a: &str| -> f64 {
            n.attribute(a).unwrap().parse().unwrap()
        };
        let (left, width) = (x(&span, "x"), x(&span, "width"));
        let start = x(&leader, "x1");
        assert!(
            (left - 0.01..=left + width + 0.01).contains(&start),
            "leader of `{}` starts at {start}, span {left}..{}",
            region.name,
            left + width
        );
    }
    // Keys do not overlap: within a bank, each label's x is its own.
    let label_xs: Vec<(String, f64)> = doc
        .descendants()
        .filter(|n| class(n, "label"))
        .map(|n| {
            let bank = n
                .ancestors()
                .find(|a| class(a, "bank"))
                .unwrap()
                .attribute("data-name")
                .unwrap()
                .to_owned();
            (bank, n.attribute("x").unwrap().parse().unwrap())
        })
        .collect();
    for (i, a) in label_xs.iter().enumerate() {
        for b in &label_xs[i + 1..] {
            assert!(a.0 != b.0 || (a.1 - b.1).abs() > 1.0, "two labels at {a:?}");
        }
    }
    let guards: Vec<_> = doc.descendants().filter(|n| class(n, "guard")).collect();
    let with_guard: Vec<_> = Mapped::regions()
        .iter()
        .filter(|r| r.guard > 0)
        .map(|r| r.name)
        .collect();
    assert!(!with_guard.is_empty());
    let mut drawn: Vec<_> = guards
        .iter()
        .map(|g| g.attribute("data-entry").unwrap())
        .collect();
    let mut expected = with_guard.clone();
    drawn.sort_unstable();
    expected.sort_unstable();
    assert_eq!(drawn, expected, "one guard per entry that has one");
    assert_eq!(guards.len(), with_guard.len());
    for guard in guards {
        let width: f64 = guard.attribute("width").unwrap().parse().unwrap();
        assert!(width >= 1.0, "a guard is at least a pixel wide");
    }
}
