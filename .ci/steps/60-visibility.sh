# Issue 14: the plan and its use without a debugger (about 1-2 minutes).
# - the rustdoc map: `cargo doc` of a one-file crate, the struct's page
#   holds the map tables with the macro's numbers;
# - the timeline chart and the SVG map, parsed as XML;
# - allocation sites: leak reports name file and line (feature `track`);
# - the runtime's docs with `track` (its extra items) without warnings;
# - `track` on the no_std targets (Location needs no std).
cargo test -p flight-mem-layout-tests --test rustdoc_map --test timeline --test svg
cargo test -p flight-mem --features track --test track
cargo test -p flight-mem-layout-tests --features flight-mem/track --test timeline --test routing
RUSTDOCFLAGS="-D warnings" cargo doc -p flight-mem --no-deps --features track
for target in thumbv6m-none-eabi thumbv7em-none-eabihf; do
  cargo build -p flight-mem --no-default-features --features track --target "$target"
done
