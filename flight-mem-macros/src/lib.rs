//! The `memory_layout!` macro of [flight-mem](https://docs.rs/flight-mem).
//!
//! Use it through `flight_mem::memory_layout!`; this crate is an
//! implementation detail and its only item is the macro. The expansion is a
//! pipeline of plain functions over token streams, so its stages can be
//! tested without a compiler:
//!
//! 1. [`parse`](crate::parse): tokens to a syntax tree that keeps declaration
//!    order, recovering after each bad item;
//! 2. [`check`](crate::check): the rules of the language, every error
//!    collected and spanned on its token;
//! 3. [`analyze`](crate::analyze): placement of the entries in their banks and
//!    the budget proof for literal sizes;
//! 4. [`codegen`](crate::codegen): statics, accessors, tables, and const
//!    assertions for the sizes only rustc can compute.
//!
//! An invalid plan still expands to its layout struct and accessor
//! signatures beside the errors, so one mistake does not cascade into
//! "cannot find function" errors at every use.

extern crate proc_macro;

mod analyze;
mod check;
mod codegen;
mod errors;
mod expand;
mod parse;
mod platforms;
mod vocabulary;

#[cfg(test)]
mod tests;

/// Declares a memory plan; see the `flight_mem` crate documentation.
#[proc_macro]
pub fn memory_layout(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand::expand(input.into()).into()
}
