use std::process::ExitCode;

use clap::Parser;
use leakhound::cli::{Cli, Command};
use leakhound::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Diff(args) => commands::diff(args),
        Command::Watch(args) => commands::watch(args),
        Command::Analyze(args) => commands::analyze(args),
        Command::Check(args) => commands::check(args),
        Command::Demo(args) => commands::demo(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
