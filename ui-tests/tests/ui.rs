//! Every rule of the layout language (SPEC §2) has a compile-fail case here
//! whose `.stderr` shows the caret on the token to blame and a message that
//! says what to change; the pass cases prove the valid forms compile.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    for area in [
        "syntax",
        "keywords",
        "options",
        "names",
        "units",
        "align",
        "shapes",
        "banks",
        "budget",
        "pressure",
        "components",
        "cascade",
        "runtime",
    ] {
        cases.compile_fail(format!("tests/ui/{area}/*.rs"));
    }
    cases.pass("tests/ui/pass/*.rs");
}
