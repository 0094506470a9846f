//! Every example in the README runs as written from the repository root.
//!
//! The examples are read from README.md itself: the indented command blocks whose lines start with
//! `leakhound`, the fenced blocks that start with `$ leakhound …` (their shown output must appear
//! in the real output, line for line, up to a `...`), the `sh` block and the `run:` script of the
//! `yaml` block (run with `bash -e`, as GitHub Actions does). They run in a folder that mirrors the
//! repository root (a symbolic link to each of its entries), so relative paths resolve exactly as
//! at the root while the files an example writes (snapshot folders, reports) land in a temporary
//! folder. The only change made to an example is its service URL: `http://127.0.0.1:6060`,
//! `http://staging:6060` and `http://staging-orders:6060` become the URL of the test service
//! (tests/goservice, scenario `leaky`).
//!
//! Not run: the `cargo …` lines of the set-up (`cargo test` is what runs this) and the benchmark
//! scripts (`bench/*.sh`, `cargo bench`: minutes and 493 MB of data).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Service;

const URLS: [&str; 3] = ["http://127.0.0.1:6060", "http://staging-orders:6060", "http://staging:6060"];

#[derive(Debug)]
enum Example {
    /// Lines of an indented block, run one after the other in the same folder.
    Commands(Vec<String>),
    /// `$ command` and the output the README shows for it.
    Shown { command: String, output: Vec<String> },
    /// A shell script (`sh` block).
    Script(String),
    /// The `run:` script of a GitHub Actions step, run with `bash -e`.
    ActionsStep(String),
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

fn examples(readme: &str) -> Vec<Example> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(lang) = line.strip_prefix("```") {
            let end = (i + 1..lines.len()).find(|&j| lines[j].starts_with("```")).expect("closed fence");
            let body = &lines[i + 1..end];
            match lang.trim() {
                "sh" => out.push(Example::Script(body.join("\n"))),
                "yaml" => {
                    let start = body.iter().position(|l| l.trim_start().starts_with("run: |")).expect("a run: | script") + 1;
                    let indent = body[start].len() - body[start].trim_start().len();
                    let script: Vec<&str> = body[start..].iter().map(|l| l.get(indent..).unwrap_or("")).collect();
                    out.push(Example::ActionsStep(script.join("\n")));
                }
                "" if body.first().is_some_and(|l| l.starts_with("$ leakhound ")) => {
                    let command = body[0].trim_start_matches("$ ").to_string();
                    let output = body[1..].iter().take_while(|l| l.trim() != "...").map(|l| l.trim_end().to_string()).collect();
                    out.push(Example::Shown { command, output });
                }
                _ => {}
            }
            i = end + 1;
            continue;
        }
        if line.starts_with("    ") && (i == 0 || lines[i - 1].trim().is_empty()) {
            let end = (i..lines.len()).find(|&j| !lines[j].starts_with("    ")).unwrap_or(lines.len());
            let commands: Vec<String> = lines[i..end].iter().map(|l| l.trim().to_string()).filter(|l| l.starts_with("leakhound ")).collect();
            if !commands.is_empty() {
                out.push(Example::Commands(commands));
            }
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

fn with_url(text: &str, url: &str) -> String {
    URLS.iter().fold(text.to_string(), |t, u| t.replace(u, url))
}

/// A folder that mirrors the repository root: a symbolic link to each entry but `target`.
fn mirror_of_root() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        std::os::unix::fs::symlink(e.path(), dir.path().join(&name)).unwrap();
    }
    dir
}

fn path_with_leakhound() -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_leakhound"));
    format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default())
}

fn bash(cwd: &Path, flags: &[&str], script: &str, env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new("bash");
    c.args(flags).arg("-c").arg(script).current_dir(cwd).env("PATH", path_with_leakhound()).env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn show(o: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", o.status.code(), String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn run(example: &Example, url: &str) {
    let dir = mirror_of_root();
    let cwd = dir.path();
    match example {
        Example::Commands(commands) => {
            for command in commands {
                let o = bash(cwd, &[], &with_url(command, url), &[]);
                let stderr = String::from_utf8_lossy(&o.stderr);
                // A check of the leaking test service fails (1) or passes (0); the rest succeed.
                let ok = if command.starts_with("leakhound check ") { matches!(o.status.code(), Some(0 | 1)) } else { o.status.success() };
                assert!(ok && !stderr.contains("Error:"), "README example `{command}`:\n{}", show(&o));
            }
        }
        Example::Shown { command, output } => {
            let o = bash(cwd, &[], command, &[]);
            assert!(o.status.success(), "README example `{command}`:\n{}", show(&o));
            let actual: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(|l| l.trim_end().to_string()).collect();
            for line in output {
                assert!(actual.contains(line), "README example `{command}` shows\n{line}\nwhich the real output lacks:\n{}", actual.join("\n"));
            }
        }
        Example::Script(script) => {
            let o = bash(cwd, &[], &with_url(script, url), &[]);
            assert!(o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("Error:"), "README sh example:\n{script}\n{}", show(&o));
            let report = std::fs::read_dir(cwd)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("report-"))
                .unwrap_or_else(|| panic!("the nightly script wrote no report:\n{}", show(&o)));
            let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
            assert_eq!(doc["schema"], "leakhound.report/v1");
        }
        Example::ActionsStep(script) => {
            let summary = cwd.join("step-summary.md");
            let o = bash(cwd, &["-e"], &with_url(script, url), &[("GITHUB_STEP_SUMMARY", &summary)]);
            // Under `bash -e` the summary is written whatever leakhound's exit, and the step exits with it.
            let text = std::fs::read_to_string(&summary).unwrap_or_default();
            assert!(text.contains("## leakhound"), "the step summary was not written:\n{}", show(&o));
            assert!(matches!(o.status.code(), Some(0 | 1)), "{}", show(&o));
            let report = std::fs::read_to_string(cwd.join("leak-report.md")).unwrap();
            assert_eq!(text, report);
        }
    }
}

#[test]
fn every_readme_example_runs_as_written() {
    let all = examples(&readme());
    let count = |f: fn(&Example) -> bool| all.iter().filter(|e| f(e)).count();
    // The parser found what the README holds (a README change that hides an example fails here).
    assert!(count(|e| matches!(e, Example::Commands(_))) >= 1, "{all:#?}");
    assert_eq!(count(|e| matches!(e, Example::Shown { .. })), 7, "{all:#?}");
    assert_eq!(count(|e| matches!(e, Example::Script(_))), 1, "{all:#?}");
    assert_eq!(count(|e| matches!(e, Example::ActionsStep(_))), 1, "{all:#?}");
    let svc = Service::start(&["-scenario", "leaky"]);
    let url = svc.url();
    std::thread::scope(|s| {
        for e in &all {
            let url = url.clone();
            s.spawn(move || run(e, &url));
        }
    });
}
