//! The `nexis` command-line tool. Argument parsing lives in `cli/`; the work is done by
//! the `nexis` library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
