//! Shell completions and man pages, generated from the clap definitions: each is loaded by the real
//! shell or formatter a user has (bash, zsh, fish, groff), which must accept it and offer the
//! binary's real subcommands and options.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn generated(args: &[&str]) -> String {
    let out = common::run_ok(leakhound().args(args));
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn works(program: &str, arg: &str) -> bool {
    Command::new(program).arg(arg).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Runs `program args...` with `script` in a file at `$SCRIPT`; returns stdout, panics on failure.
fn shell(program: &str, args: &[&str], script: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("completion");
    std::fs::write(&path, script).unwrap();
    let out = Command::new(program).args(args).env("SCRIPT", &path).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("run {program}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{program} {args:?} failed ({}):\n{stderr}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What bash offers after `words` with the cursor on the last one.
fn bash_offers(script: &str, words: &[&str]) -> Vec<String> {
    let words_quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let probe = format!(
        "source \"$SCRIPT\"; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; _leakhound leakhound '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words_quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len() - 2],
    );
    shell("bash", &["-c", &probe], script).lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_subcommands_options_and_values() {
    let script = generated(&["completions", "bash"]);
    shell("bash", &["-n", "-c", "source \"$SCRIPT\""], &script);
    let subcommands = bash_offers(&script, &["leakhound", ""]);
    for sub in ["watch", "analyze", "diff", "check", "demo", "serve", "completions", "man"] {
        assert!(subcommands.iter().any(|s| s == sub), "bash offers no {sub:?} after `leakhound `: {subcommands:?}");
    }
    let options = bash_offers(&script, &["leakhound", "watch", "--int"]);
    assert_eq!(options, ["--interval"], "bash completes `watch --int` to {options:?}");
    let formats = bash_offers(&script, &["leakhound", "analyze", "--format", ""]);
    for f in ["text", "json", "markdown", "html"] {
        assert!(formats.iter().any(|s| s == f), "bash offers no format {f:?}: {formats:?}");
    }
}

#[test]
fn fish_completes_subcommands_and_options() {
    common::apt_install("fish", "fish --version", || works("fish", "--version")).unwrap_or_else(|e| panic!("fish is needed to load the fish completions: {e}"));
    let script = generated(&["completions", "fish"]);
    shell("fish", &["-c", "fish --no-execute $SCRIPT"], &script);
    let subcommands = shell("fish", &["-c", "source $SCRIPT; complete -C 'leakhound '"], &script);
    for sub in ["watch", "analyze", "diff", "check", "serve", "completions", "man"] {
        assert!(subcommands.lines().any(|l| l.split('\t').next() == Some(sub)), "fish offers no {sub:?}:\n{subcommands}");
    }
    let options = shell("fish", &["-c", "source $SCRIPT; complete -C 'leakhound watch --inter'"], &script);
    assert!(options.lines().any(|l| l.starts_with("--interval")), "fish does not complete --interval:\n{options}");
}

#[test]
fn zsh_loads_the_completion_function() {
    common::apt_install("zsh", "zsh --version", || works("zsh", "--version")).unwrap_or_else(|e| panic!("zsh is needed to load the zsh completions: {e}"));
    let script = generated(&["completions", "zsh"]);
    assert!(script.starts_with("#compdef leakhound"), "not a zsh completion file:\n{}", &script[..script.len().min(200)]);
    shell("zsh", &["-n", "-c", "source $SCRIPT"], &script);
    // Loaded under compinit, the function is defined and names every subcommand.
    let probe = "autoload -Uz compinit && compinit -u -D; source $SCRIPT; whence -w _leakhound; functions _leakhound_commands";
    let out = shell("zsh", &["-f", "-c", probe], &script);
    assert!(out.contains("_leakhound: function"), "zsh did not define _leakhound:\n{out}");
    for sub in ["watch", "analyze", "diff", "check", "serve", "completions", "man"] {
        assert!(out.contains(&format!("'{sub}:")), "zsh's command list lacks {sub:?}:\n{out}");
    }
}

/// Formats a roff page with groff, with every warning on; returns the text and fails on a warning.
fn groff(page: &Path) -> String {
    common::apt_install("groff-base", "groff --version", || works("groff", "--version"))
        .unwrap_or_else(|e| panic!("groff is needed to format the man page: {e}"));
    let out = Command::new("groff").args(["-man", "-Tutf8", "-ww", "-P-c", "-P-b", "-P-u"]).arg(page).env("MANWIDTH", "100").output().expect("run groff");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "groff {} ({}):\n{stderr}", page.display(), out.status);
    // groff's utf8 device renders hyphens as U+2010; compare with what users type.
    String::from_utf8_lossy(&out.stdout).replace(['\u{2010}', '\u{2212}'], "-")
}

#[test]
fn man_pages_format_and_document_every_subcommand_and_option() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("stdout.1");
    std::fs::write(&top, generated(&["man"])).unwrap();
    let text = groff(&top);
    assert!(text.contains("leakhound") && text.contains("SUBCOMMANDS"), "{text}");
    for sub in ["leakhound-watch(1)", "leakhound-analyze(1)", "leakhound-serve(1)", "leakhound-man(1)"] {
        assert!(text.contains(sub), "the top page does not list {sub}:\n{text}");
    }
    assert!(text.contains("Exit codes"), "the exit codes are missing:\n{text}");

    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    common::run_ok(leakhound().arg("man").arg("--dir").arg(&pages));
    let watch = groff(&pages.join("leakhound-watch.1"));
    // The options the binary really takes, from its own --help.
    let help = String::from_utf8(common::run_ok(leakhound().args(["watch", "--help"])).stdout).unwrap();
    let options: Vec<&str> = help.split_whitespace().filter(|w| w.starts_with("--") && w.len() > 2).map(|w| w.trim_end_matches(',')).collect();
    assert!(options.len() > 10, "{help}");
    for option in options {
        let option = option.split(['=', '<', '[']).next().unwrap();
        assert!(watch.contains(option), "leakhound-watch(1) lacks {option}:\n{watch}");
    }
    let listed: Vec<_> = std::fs::read_dir(&pages).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    for sub in ["leakhound.1", "leakhound-analyze.1", "leakhound-check.1", "leakhound-diff.1", "leakhound-serve.1", "leakhound-completions.1"] {
        assert!(listed.iter().any(|l| l == sub), "no {sub} in {listed:?}");
    }
}

#[test]
fn a_closed_pipe_is_not_a_panic() {
    for args in [&["completions", "bash"][..], &["man"][..]] {
        // Like `leakhound man | head -0`: the reader is gone before the first write.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = leakhound().args(args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {stderr}");
        assert!(stderr.starts_with("Error: writing") && stderr.contains("pipe"), "{args:?}: {stderr}");
    }
}
