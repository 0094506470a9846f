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
        Command::Serve(args) => commands::serve(args),
        Command::Completions(args) => commands::completions(args),
        Command::Man(args) => commands::man(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Messages quote profiles and servers (an HTTP error body, a line of a dump): escaped.
            eprintln!("Error: {}", leakhound::report::escape::terminal_text(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}
