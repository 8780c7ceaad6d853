//! What people look at: the SVG memory map and debug tracking of live
//! allocations (`track`, or its disabled twin without the feature).

pub(crate) mod svg;
#[cfg(feature = "track")]
pub mod track;
#[cfg(not(feature = "track"))]
#[path = "track_disabled.rs"]
pub(crate) mod track;
