//! The pipeline, as library functions over `proc_macro2` token streams (so
//! tests can drive it without a compiler).

use proc_macro2::TokenStream;

use crate::errors::Errors;
use crate::model::Model;
use crate::{analyze, check, codegen, parse};

/// Expands a `memory_layout!` input: the generated items, with a
/// `compile_error!` per problem found (and fallback items for the layouts
/// that have one).
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let (model, analyses) = front_end(input, &mut errors);
    let mut output = errors.to_compile_errors();
    for (layout, analysis) in model.layouts.iter().zip(&analyses) {
        if layout.duplicate {
            // Its struct would clash with the first layout of that name.
            continue;
        }
        output.extend(if layout.valid {
            codegen::generate(layout, analysis)
        } else {
            codegen::fallback(layout)
        });
    }
    output
}

/// Parse, check and analyze: every error of the input combined into one
/// `syn::Error`, or the model. What the fuzz test drives.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn front(input: TokenStream) -> syn::Result<(Model, Vec<analyze::LayoutAnalysis>)> {
    let mut errors = Errors::default();
    let result = front_end(input, &mut errors);
    errors.into_result().map(|()| result)
}

fn front_end(input: TokenStream, errors: &mut Errors) -> (Model, Vec<analyze::LayoutAnalysis>) {
    let input = parse::parse(input, errors);
    let mut model = check::check(input, errors);
    let mut analyses = Vec::with_capacity(model.layouts.len());
    for layout in &mut model.layouts {
        let before = errors.count();
        analyses.push(analyze::analyze(layout, errors));
        layout.valid &= errors.count() == before;
    }
    (model, analyses)
}
