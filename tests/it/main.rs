//! Integration tests, one binary with a module per area (each `tests/*.rs` file would be
//! a separate binary linked against everything).

mod support;

mod compat;
mod golden;
