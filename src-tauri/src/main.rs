//! Branchyard desktop app.
fn main() {}
