//! The runtime side of `memory_layout!`: a layout's tables, pressure,
//! request routing, guard zones and validation.

pub(crate) mod guard;
pub(crate) mod pressure;
pub(crate) mod request;
pub(crate) mod routing;
pub(crate) mod table;
pub(crate) mod validation;
