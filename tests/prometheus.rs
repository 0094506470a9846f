//! The Prometheus side of `deploy/`, against the real thing (Debian's `prometheus` package:
//! `prometheus` and `promtool`, installed with apt-get when missing, like Go and Chromium):
//! - promtool checks the rules and the scrape config and runs the rules' unit tests;
//! - two real Go services (one leaking, one benign) and a dead address, `leakhound serve` over
//!   them, and a real Prometheus scraping serve with deploy/'s scrape config and alert rules: its
//!   HTTP API shows the leaking service's leak series and alert, none for the benign one, and the
//!   sampling-failure alert for the dead one. The rules are loaded with their `for:` shortened to
//!   a few seconds (a variant this test writes from the real rules file; nothing else changes),
//!   so the test takes seconds, not ten minutes. promtool also lints serve's /metrics.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::promtool;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(rel)
}

/// Runs promtool with `args`, optionally feeding `stdin`; returns (success, stdout + stderr).
fn run_promtool(args: &[&str], stdin: Option<&[u8]>) -> (bool, String) {
    let mut child = Command::new(promtool())
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn promtool_checks_the_rules_and_config_and_runs_the_rule_tests() {
    let rules = deploy("prometheus/leakhound-rules.yml");
    let (ok, out) = run_promtool(&["check", "rules", rules.to_str().unwrap()], None);
    assert!(ok && out.contains("SUCCESS: 4 rules found"), "promtool check rules:\n{out}");

    let (ok, out) = run_promtool(&["check", "config", deploy("prometheus/prometheus.yml").to_str().unwrap()], None);
    assert!(ok, "promtool check config:\n{out}");
    assert!(out.contains("leakhound-rules.yml") && out.contains("SUCCESS: 4 rules found"), "the config does not load the rules:\n{out}");

    let tests = deploy("prometheus/leakhound-rules.test.yml");
    let (ok, out) = run_promtool(&["test", "rules", tests.to_str().unwrap()], None);
    assert!(ok && out.contains("SUCCESS"), "promtool test rules:\n{out}");

    // The unit tests can fail: with the leak alert's `for:` at 8 minutes they do (it would fire at
    // 9 minutes, where they expect nothing).
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(&rules).expect("read rules");
    assert_eq!(text.matches("for: 10m").count(), 1);
    std::fs::write(dir.path().join("leakhound-rules.yml"), text.replace("for: 10m", "for: 8m")).unwrap();
    std::fs::copy(&tests, dir.path().join("leakhound-rules.test.yml")).unwrap();
    let (ok, out) = run_promtool(&["test", "rules", dir.path().join("leakhound-rules.test.yml").to_str().unwrap()], None);
    assert!(!ok && out.contains("LeakhoundGoroutineLeak"), "the rule tests pass a shortened `for:`:\n{out}");
}
