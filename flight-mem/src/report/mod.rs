//! What people look at: the SVG memory map, memory over time (a per-frame
//! recorder and its chart), and debug tracking of live allocations (`track`, or its disabled twin without the feature).

pub(crate) mod svg;
pub(crate) mod timeline;
#[cfg(feature = "track")]
pub mod track;
#[cfg(not(feature = "track"))]
#[path = "track_disabled.rs"]
pub(crate) mod track;
