//! `leakhound diff` on real saved profiles (tests/fixtures, from Go 1.19 and Go 1.27), checked
//! against `go tool pprof` where the two compute the same thing.

mod common;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

fn diff_json(base: &Path, new: &Path, extra: &[&str]) -> Value {
    let out = leakhound().arg("diff").arg(base).arg(new).args(["--format", "json"]).args(extra).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    schema::validate(&doc);
    doc
}

/// What every form shows of a stack: no leading `runtime.` frames, no `runtime.goexit`.
fn normalize(funcs: Vec<String>) -> Vec<String> {
    let mut f: Vec<String> = funcs.into_iter().map(|s| s.trim_end_matches(" (inline)").trim().to_string()).collect();
    while f.last().is_some_and(|l| l == "runtime.goexit") {
        f.pop();
    }
    match f.iter().position(|x| !x.starts_with("runtime.")) {
        Some(i) => f.split_off(i),
        None => f,
    }
}

/// `go tool pprof -traces`: count per (normalized) stack of function names, and the total.
fn pprof_traces(file: &Path) -> (BTreeMap<Vec<String>, i64>, i64) {
    let text = common::go_tool_pprof(&["-traces", file.to_str().unwrap()]);
    let mut out: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    let mut total = 0;
    for block in text.split("-----------+-------------------------------------------------------").skip(1) {
        let mut count = None;
        let mut funcs = Vec::new();
        for line in block.lines().filter(|l| !l.trim().is_empty()) {
            let t = line.trim();
            if count.is_none() {
                let (n, f) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
                count = Some(n.parse::<i64>().unwrap_or_else(|_| panic!("count in {line:?}")));
                if !f.trim().is_empty() {
                    funcs.push(f.trim().to_string());
                }
            } else {
                funcs.push(t.to_string());
            }
        }
        if let Some(c) = count {
            total += c;
            *out.entry(normalize(funcs)).or_default() += c;
        }
    }
    (out, total)
}

/// The total of `go tool pprof -top` (`... of N total`).
fn pprof_total(file: &Path) -> i64 {
    let text = common::go_tool_pprof(&["-top", file.to_str().unwrap()]);
    let line = text.lines().find(|l| l.contains(" total")).unwrap_or_else(|| panic!("no total in {text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words.iter().position(|w| *w == "total").unwrap();
    words[i - 1].parse().unwrap()
}

fn change_stack(c: &Value) -> Vec<String> {
    normalize(c["stack"].as_array().unwrap().iter().map(|f| f["function"].as_str().unwrap().to_string()).collect())
}

#[test]
fn per_stack_counts_and_totals_equal_go_tool_pprof() {
    for go in ["go119", "go127"] {
        let base = fixture(&format!("{go}/goroutine-before.pb.gz"));
        let new = fixture(&format!("{go}/goroutine-after.pb.gz"));
        let (pb, traced_b) = pprof_traces(&base);
        let (pn, traced_n) = pprof_traces(&new);
        let (tb, tn) = (pprof_total(&base), pprof_total(&new));
        let doc = diff_json(&base, &new, &["--group-by", "function"]);
        assert_eq!(doc["base_total"].as_i64().unwrap(), tb, "{go} base total");
        assert_eq!(doc["new_total"].as_i64().unwrap(), tn, "{go} new total");
        assert_eq!(doc["base"]["goroutines"].as_i64().unwrap(), tb);
        let changes = doc["changes"].as_array().unwrap();
        for c in changes {
            let key = change_stack(c);
            if key == ["(no frames)"] {
                // -traces leaves out samples without a location; -top's total counts them.
                assert_eq!(c["new"].as_i64().unwrap() - c["base"].as_i64().unwrap(), (tn - traced_n) - (tb - traced_b));
                continue;
            }
            assert_eq!(c["base"].as_i64().unwrap(), pb.get(&key).copied().unwrap_or(0), "{go} base count of {key:?}");
            assert_eq!(c["new"].as_i64().unwrap(), pn.get(&key).copied().unwrap_or(0), "{go} new count of {key:?}");
            assert_eq!(c["delta"].as_i64().unwrap(), c["new"].as_i64().unwrap() - c["base"].as_i64().unwrap());
        }
        let frameless = changes.iter().filter(|c| change_stack(c) == ["(no frames)"]).count();
        let differing =
            frameless + pb.keys().chain(pn.keys()).collect::<std::collections::BTreeSet<_>>().into_iter().filter(|k| pb.get(*k) != pn.get(*k)).count();
        assert_eq!(changes.len(), differing, "{go}: every stack whose count differs, and only those");
    }
}

#[test]
fn deltas_equal_go_tool_pprof_diff_base() {
    for go in ["go119", "go127"] {
        let base = fixture(&format!("{go}/goroutine-before.pb.gz"));
        let new = fixture(&format!("{go}/goroutine-after.pb.gz"));
        let top = common::go_tool_pprof(&["-top", "-cum", "-nodecount=100000", "-diff_base", base.to_str().unwrap(), new.to_str().unwrap()]);
        // cum per function: the delta of all stacks through it.
        let mut pprof_cum: BTreeMap<String, i64> = BTreeMap::new();
        for line in top.lines() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() >= 6 && cols[0].parse::<i64>().is_ok() {
                if let Ok(cum) = cols[3].parse::<i64>() {
                    let name = cols[5..].join(" ");
                    pprof_cum.insert(name.trim_end_matches(" (inline)").to_string(), cum);
                }
            }
        }
        let doc = diff_json(&base, &new, &["--group-by", "function"]);
        let mut ours: BTreeMap<String, i64> = BTreeMap::new();
        for c in doc["changes"].as_array().unwrap() {
            let mut funcs: Vec<String> = c["stack"].as_array().unwrap().iter().map(|f| f["function"].as_str().unwrap().to_string()).collect();
            funcs.sort();
            funcs.dedup();
            for f in funcs {
                *ours.entry(f).or_default() += c["delta"].as_i64().unwrap();
            }
        }
        let mut compared = 0;
        for (f, cum) in &pprof_cum {
            if f.starts_with("main.") {
                assert_eq!(ours.get(f).copied().unwrap_or(0), *cum, "{go}: delta through {f}");
                compared += 1;
            }
        }
        assert!(compared >= 8, "{go}: compared {compared} functions:\n{top}");
        // And the whole: with -diff_base, pprof's nodes account for the change of the totals
        // (less the frameless samples, which are no node).
        let total_line = top.lines().find(|l| l.contains("accounting for")).unwrap();
        let pprof_delta: i64 = total_line.split("accounting for ").nth(1).unwrap().split(',').next().unwrap().trim().parse().unwrap();
        let frameless: i64 =
            doc["changes"].as_array().unwrap().iter().filter(|c| change_stack(c) == ["(no frames)"]).map(|c| c["delta"].as_i64().unwrap()).sum();
        assert_eq!(doc["new_total"].as_i64().unwrap() - doc["base_total"].as_i64().unwrap() - frameless, pprof_delta, "{go}: {total_line}");
    }
}

/// The leaks of the fixtures, their blocking operation in proto/debug=2 form, and their count after.
const LEAKS: [(&str, &str, i64); 8] = [
    ("main.abandonedReceiver", "chan receive", 12),
    ("main.forgottenSender", "chan send", 12),
    ("main.generatorWithoutQuit", "select", 12),
    ("main.lockNeverReleased", "sync.Mutex", 12),
    ("main.rangeOverUnclosed", "chan receive", 12),
    ("main.waitGroupNeverDone", "sync.WaitGroup", 12),
    ("main.fanoutWorker", "chan send", 12),
    ("main.nilChannelSend", "chan send (nil chan)", 3),
];

#[test]
fn leaks_top_the_diff_in_every_form_and_release() {
    for go in ["go119", "go127"] {
        for form in ["pb.gz", "debug1.txt", "debug2.txt"] {
            let base = fixture(&format!("{go}/goroutine-before.{form}"));
            let new = fixture(&format!("{go}/goroutine-after.{form}"));
            let doc = diff_json(&base, &new, &[]);
            let changes = doc["changes"].as_array().unwrap();
            let top: Vec<&str> = changes.iter().take(8).map(|c| c["leaf"].as_str().unwrap()).collect();
            for (leaf, blocking, after) in LEAKS {
                let c = changes.iter().find(|c| c["leaf"] == leaf).unwrap_or_else(|| panic!("{go} {form}: {leaf} missing"));
                assert!(top.contains(&leaf), "{go} {form}: {leaf} not among the top: {top:?}");
                assert_eq!(c["new"].as_i64().unwrap(), after, "{go} {form} {leaf}");
                assert!(c["delta"].as_i64().unwrap() > 0);
                let expected = match (form, blocking) {
                    // debug=1 hides the runtime frames: only the sync package's frames tell.
                    ("debug1.txt", b) if !b.starts_with("sync.") => "other",
                    // Go 1.19's protobuf has no function start lines to tell a nil channel.
                    ("pb.gz", "chan send (nil chan)") if go == "go119" => "chan send",
                    (_, b) => b,
                };
                assert_eq!(c["blocking"], expected, "{go} {form} {leaf}");
            }
            // debug=2 dumps carry the goroutine's creator.
            if form == "debug2.txt" {
                let fs = changes.iter().find(|c| c["leaf"] == "main.forgottenSender").unwrap();
                assert_eq!(fs["created_by"]["function"], "main.callWithTimeout", "{go}");
            }
        }
    }
}

#[test]
fn forms_compare_with_each_other() {
    // A proto snapshot against a debug=2 dump of the same moment: the same stacks, no spurious change.
    let doc = diff_json(&fixture("go127/goroutine-after.pb.gz"), &fixture("go127/goroutine-after.debug2.txt"), &[]);
    for c in doc["changes"].as_array().unwrap() {
        let leaf = c["leaf"].as_str().unwrap();
        assert!(!LEAKS.iter().any(|(l, _, _)| *l == leaf), "leak stacks must match across forms: {c:#}");
    }
}

#[test]
fn text_and_markdown_reports() {
    let base = fixture("go127/goroutine-before.pb.gz");
    let new = fixture("go127/goroutine-after.pb.gz");
    let out = leakhound().arg("diff").arg(&base).arg(&new).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("DELTA") && text.contains("BLOCKED ON") && text.contains("← leaf"));
    assert!(!text.contains("\x1b["), "no colour off a terminal");
    let first_row = text.lines().skip_while(|l| !l.contains("DELTA")).nth(1).unwrap();
    assert!(first_row.contains("+8") && first_row.contains("main."), "{first_row}");
    let out = leakhound().arg("diff").arg(&base).arg(&new).args(["--format", "markdown", "--top", "3"]).output().unwrap();
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains("| # | delta | base | new | blocked on | leaf |"));
    assert_eq!(md.lines().filter(|l| l.starts_with("| ") && l.contains("`main.")).count(), 3, "{md}");
    // --min-delta hides the small changes.
    let doc = diff_json(&base, &new, &["--min-delta", "5"]);
    assert!(doc["changes"].as_array().unwrap().iter().all(|c| c["delta"].as_i64().unwrap().abs() >= 5));
}

#[test]
fn group_by_modes_and_labels() {
    let base = fixture("go127/goroutine-before.pb.gz");
    let new = fixture("go127/goroutine-after.pb.gz");
    let by_line = diff_json(&base, &new, &["--group-by", "line"]);
    let by_addr = diff_json(&base, &new, &["--group-by", "address"]);
    let by_func = diff_json(&base, &new, &["--group-by", "function"]);
    let n = |d: &Value| d["changes"].as_array().unwrap().len();
    assert!(n(&by_func) <= n(&by_line), "function grouping merges at least as much as lines");
    for d in [&by_line, &by_addr, &by_func] {
        assert_eq!(d["new_total"], by_line["new_total"]);
    }
    // --label splits by a pprof label; the service sets none, so every group has the empty value.
    let labelled = diff_json(&base, &new, &["--label", "handler"]);
    assert!(labelled["changes"].as_array().unwrap().iter().all(|c| c["label"] == ""));
}

#[test]
fn sigquit_dump_and_cut_dump() {
    let dump = fixture("go127/sigquit.txt");
    let text = std::fs::read_to_string(&dump).unwrap();
    // `goroutine 0` is the signalled M's own stack, not a goroutine.
    let headers = text.lines().filter(|l| l.starts_with("goroutine ") && !l.starts_with("goroutine 0 ") && l.ends_with("]:")).count() as i64;
    let doc = diff_json(&fixture("go127/goroutine-after.debug2.txt"), &dump, &[]);
    // Every goroutine is read; the runtime's own ones (shown by SIGQUIT only) are not counted.
    let runtime = doc["new"]["runtime_goroutines"].as_i64().unwrap_or(0);
    assert!(runtime > 0, "{doc:#}");
    assert_eq!(doc["new_total"].as_i64().unwrap() + runtime, headers);
    // Cut mid-line far from Go's 64 MiB cut (a paste that lost its end): read as it is, the cut
    // goroutine counted with the frames it has, and no "cut off" warning (tests/dumps.rs has the
    // real 64 MiB case).
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read_to_string(fixture("go127/goroutine-after.debug2.txt")).unwrap();
    let cut_at = full.len() * 2 / 3;
    let cut_at = (cut_at..full.len()).find(|&i| full.is_char_boundary(i) && full.as_bytes()[i] == b'\t').unwrap() + 3;
    let cut = dir.path().join("cut.txt");
    std::fs::write(&cut, &full[..cut_at]).unwrap();
    let started = full[..cut_at].lines().filter(|l| l.starts_with("goroutine ") && l.ends_with("]:")).count() as i64;
    let doc = diff_json(&fixture("go127/goroutine-before.debug2.txt"), &cut, &[]);
    assert!(doc["new"]["truncated"].is_null(), "{doc:#}");
    assert_eq!(doc["new_total"].as_i64().unwrap(), started);
    assert!(doc["warnings"].as_array().is_none_or(|w| w.is_empty()), "{doc:#}");
}
