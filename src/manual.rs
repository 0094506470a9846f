//! Shell completions and the man pages, generated from the clap definitions in [`crate::cli`], so
//! they never drift from the options the binary takes.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;

/// Writes the completion script for `shell` (bash, zsh, fish, elvish, powershell).
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> std::io::Result<()> {
    // clap_complete panics on a failed write (a closed pipe): render in memory, write here.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "leakhound", &mut script);
    out.write_all(&script)
}

/// Writes the top-level man page, `leakhound(1)`, in roff.
pub fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// Writes `leakhound.1` and one page per subcommand (`leakhound-watch.1`, ...) into `dir`, as git
/// and cargo ship theirs; the top-level page lists them under SUBCOMMANDS.
pub fn man_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
}
