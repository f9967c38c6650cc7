//! Compile tests for `#[derive(SessionKeys)]`: every mistake the derive reports, with its
//! message and where the caret lands, and the inputs it must accept without a warning.
//!
//! Refresh the expected `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p kv-sessions-macros --test derive`, then review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
