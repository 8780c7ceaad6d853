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
