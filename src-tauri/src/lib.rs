//! Branchyard desktop shell.
