//! Integration tests, one binary with a module per area (each `tests/*.rs` file would be
//! a separate binary linked against everything).

mod support;

mod cli;
mod compat;
mod env_example;
mod golden;
mod hostile;
mod rules;
