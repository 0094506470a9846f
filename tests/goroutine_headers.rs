//! Every goroutine of a text dump is read (issue 19): counted, set apart with its reason (the
//! runtime's own, the profile request's), or refused with its line, never dropped without a word;
//! Go 1.27's labelled headers (`goroutine 19 [chan send] {route: /pay, tenant: "acme corp"}:`)
//! work as the protobuf profile's labels do; and a dump named alone is a snapshot.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{labelsvc_binary, run_ok, GoProgram};
use serde_json::Value;

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

fn json_of(args: &[&str], paths: &[&Path]) -> Value {
    let out = run_ok(leakhound().args(args).args(paths).args(["--format", "json"]));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?} {paths:?}: {e}"))
}

/// The goroutine id of a line that starts as a goroutine header (`goroutine N [` or
/// `goroutine N gp=`, after any indentation), if it does.
fn header_id(line: &str) -> Option<u64> {
    let rest = line.trim_start().strip_prefix("goroutine ")?;
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let after = &rest[digits..];
    (digits > 0 && (after.starts_with(" [") || after.starts_with(" gp="))).then(|| rest[..digits].parse().ok())?
}

/// Goroutine headers in a dump, goroutine 0 (an M's own stack in a SIGQUIT dump) aside.
fn headers(text: &str) -> u64 {
    text.lines().filter_map(header_id).filter(|&id| id != 0).count() as u64
}

/// What a one-snapshot report accounts for: goroutines counted, the runtime's own, the request's.
fn accounted(doc: &Value) -> u64 {
    let snaps = doc["snapshots"].as_array().expect("snapshots");
    assert_eq!(snaps.len(), 1, "one file, one snapshot: {:#}", doc["snapshots"]);
    let s = &snaps[0];
    ["goroutines", "runtime_goroutines", "request_goroutines"].iter().map(|k| s[k].as_u64().unwrap_or(0)).sum()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn text_dumps(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            text_dumps(&p, out);
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            if text.lines().any(|l| header_id(l).is_some()) {
                out.push(p);
            }
        }
    }
}

fn assert_every_goroutine_accounted(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = json_of(&["analyze"], &[path]);
    let (want, got) = (headers(&text), accounted(&doc));
    assert_eq!(got, want, "{}: {got} goroutines accounted for, {want} headers: {:#}", path.display(), doc["snapshots"]);
    want
}

#[test]
fn every_text_dump_of_the_corpus_accounts_for_every_header() {
    let mut dumps = Vec::new();
    text_dumps(&fixtures(), &mut dumps);
    dumps.sort();
    let names: Vec<String> = dumps.iter().map(|p| p.strip_prefix(fixtures()).unwrap().display().to_string()).collect();
    // The labelled ones, the leak-marked ones, SIGQUIT dumps and real servers' are among them.
    for must in
        ["go127/labels.debug2.txt", "go127/labels-goroutineleak.debug2.txt", "go127/labels-sigquit.txt", "go127/sigquit.txt", "realworld/etcd-sigquit.log"]
    {
        assert!(names.iter().any(|n| n == must), "{must} not in {names:?}");
    }
    let mut total = 0;
    for d in &dumps {
        total += assert_every_goroutine_accounted(d);
    }
    assert!(dumps.len() >= 12 && total > 1000, "{} dumps, {total} goroutines", dumps.len());
}

#[test]
fn an_unreadable_header_is_an_error_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(fixtures().join("go127/labels.debug2.txt")).unwrap();
    // A label value whose quote was lost, as a hand-edited or mangled paste would have it.
    let line = good.lines().position(|l| l.contains("tenant: \"acme corp\"}:")).expect("a labelled header") + 1;
    let bad = good.replacen("tenant: \"acme corp\"}:", "tenant: \"acme corp}:", 1);
    let path = dir.path().join("bad.txt");
    std::fs::write(&path, bad).unwrap();
    let out = leakhound().arg("analyze").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("line {line}")) && err.contains("goroutine header"), "{err}");
}

/// Groups of the service's own goroutines in a diff by (leaf, --label value): their change (the
/// goroutine reading its stdin changes state between fetches, and is left out).
fn changes(doc: &Value) -> BTreeMap<(String, String), i64> {
    let own = ["main.forgottenSender", "main.labelledWorker", "main.unlabelledIdle"];
    doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["leaf"].as_str().is_some_and(|l| own.contains(&l)))
        .map(|c| ((c["leaf"].as_str().unwrap().to_string(), c["label"].as_str().unwrap_or("").to_string()), c["delta"].as_i64().unwrap()))
        .collect()
}

#[test]
fn labelled_headers_of_a_go127_service_read_as_its_protobuf_profile() {
    let svc = GoProgram::start(&labelsvc_binary(), &[], &[]);
    // Until its goroutines have run to where they wait (one not yet run is at its entry line).
    std::thread::sleep(std::time::Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let save = |name: &str, path: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, svc.fetch(path)).unwrap();
        p
    };
    let forms = [("pb.gz", "/debug/pprof/goroutine"), ("debug1.txt", "/debug/pprof/goroutine?debug=1"), ("debug2.txt", "/debug/pprof/goroutine?debug=2")];
    let before: Vec<PathBuf> = forms.iter().map(|(ext, path)| save(&format!("before.{ext}"), path)).collect();
    let leaked = String::from_utf8(svc.fetch("/leak?n=30")).unwrap();
    assert_eq!(leaked.trim(), "main.forgottenSender 60");
    let after: Vec<PathBuf> = forms.iter().map(|(ext, path)| save(&format!("after.{ext}"), path)).collect();
    let marked = save("after-goroutineleak.debug2.txt", "/debug/pprof/goroutineleak?debug=2");
    let text = std::fs::read_to_string(&after[2]).unwrap();
    assert!(text.contains("[chan send] {route: /pay, tenant: \"acme corp\"}:"), "Go 1.27 printed no labels in headers:\n{}", &text[..text.len().min(3000)]);

    // The same groups and changes from every form, and from the goroutineleak dump.
    let want =
        BTreeMap::from([(("main.forgottenSender".to_string(), "acme corp".to_string()), 30), (("main.forgottenSender".to_string(), "globex".to_string()), 30)]);
    let mut totals = Vec::new();
    for (b, a) in before.iter().zip(&after).chain([(&before[0], &marked), (&before[2], &after[0])]) {
        let doc = json_of(&["diff", "--label", "tenant"], &[b, a]);
        assert_eq!(changes(&doc), want, "diff {} {}", b.display(), a.display());
        let fs = doc["changes"].as_array().unwrap().iter().find(|c| c["label"] == "globex").unwrap();
        assert_eq!(fs["labels"], serde_json::json!({"route": ["/refund"], "tenant": ["globex"]}), "{}", a.display());
        // The profile request's own goroutines are set apart when the forms differ in having them.
        totals.push(doc["new_total"].as_i64().unwrap() + doc["new"]["request_goroutines"].as_i64().unwrap_or(0));
    }
    assert!(totals.windows(2).all(|w| w[0] == w[1]), "totals differ between forms: {totals:?}");

    // Every header of each text dump is accounted for.
    for d in [&before[2], &after[2], &marked] {
        assert_every_goroutine_accounted(d);
    }

    // `(leaked)` marks are the runtime's proof, per label; every format shows the labels.
    let doc = json_of(&["analyze", "--label", "tenant"], &[&marked]);
    let suspects: BTreeMap<String, (String, u64)> = doc["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["label"].as_str().unwrap().to_string(), (s["verdict"].as_str().unwrap().to_string(), s["gc_proven_leaked"].as_u64().unwrap_or(0))))
        .collect();
    assert_eq!(suspects, BTreeMap::from([("acme corp".into(), ("leak".into(), 30)), ("globex".into(), ("leak".into(), 30))]), "{:#}", doc["suspects"]);
    for (format, shown) in [("text", "tenant=acme corp"), ("markdown", "tenant=acme corp"), ("html", "tenant=acme corp")] {
        let out = run_ok(leakhound().args(["analyze", "--format", format]).arg(&marked));
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(out.contains(shown) && out.contains("route=/pay"), "{format} shows no labels:\n{out}");
    }

    // watch --debug2 reads the same totals and groups as watch of the protobuf form, and its
    // saved dumps read alike.
    let url = svc.url().to_string();
    let watch = |extra: &[&str], save: &Path| {
        let out = run_ok(
            leakhound().args(["watch", &url, "--count", "2", "--interval", "1s", "--label", "tenant", "--format", "json", "--save"]).arg(save).args(extra),
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let shape = |doc: &Value| -> (Vec<i64>, BTreeMap<String, Value>) {
        let totals = doc["snapshots"].as_array().unwrap().iter().map(|s| s["goroutines"].as_i64().unwrap()).collect();
        let groups = doc["suspects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["label"].as_str().unwrap_or("").to_string(), serde_json::json!([s["leaf"], s["counts"], s["labels"]])))
            .collect();
        (totals, groups)
    };
    let (pb_dir, d2_dir) = (dir.path().join("watch-pb"), dir.path().join("watch-d2"));
    let pb = shape(&watch(&[], &pb_dir));
    let d2 = shape(&watch(&["--debug2"], &d2_dir));
    assert_eq!(d2, pb, "watch --debug2 and watch differ");
    assert_eq!(pb.1.len(), 2, "{pb:?}");
    let saved = shape(&json_of(&["analyze", "--label", "tenant"], &[&d2_dir]));
    assert_eq!(saved, d2, "analyze of watch --debug2's folder");
}

#[test]
fn a_dump_named_alone_is_a_snapshot_whatever_its_name_and_folder() {
    let svc = GoProgram::start(&labelsvc_binary(), &["-leak", "10"], &[]);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved");
    // watch (protobuf) takes a debug=2 dump on its last round for creation sites.
    run_ok(leakhound().args(["watch", svc.url(), "--count", "2", "--interval", "1s", "--format", "json", "--save"]).arg(&saved));
    let dump = std::fs::read_dir(&saved)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-goroutine-debug2.txt"))
        .expect("the creation-site dump");
    // In its folder, with the rest: it joins its round's snapshot.
    assert_eq!(json_of(&["analyze"], &[&saved])["snapshots"].as_array().unwrap().len(), 2);
    // Alone, in its folder (whose index names it), and copied elsewhere under the same name.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let copy = elsewhere.join(dump.file_name().unwrap());
    std::fs::copy(&dump, &copy).unwrap();
    for path in [&dump, &copy] {
        let n = assert_every_goroutine_accounted(path);
        assert!(n >= 20, "{}: {n} goroutines", path.display());
        let out = run_ok(leakhound().arg("analyze").arg(path));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("in 1 snapshot"), "{}:\n{text}", path.display());
    }
}
