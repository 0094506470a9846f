//! The files of `deploy/` fit together and fit the real CLI: the Kubernetes manifests parse and
//! reference each other (selectors, ConfigMap, ports, probes), every container command line is
//! accepted by this build's `leakhound` (the same arguments, plus `--help`: clap checks every flag
//! and value first), the targets file in the ConfigMap is read by leakhound's own loader, and the
//! Dockerfile builds with a Rust new enough for Cargo.lock. (`tests/prometheus.rs` runs the
//! Prometheus files through promtool and a real Prometheus.)

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml_ng::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// Every document of a multi-document YAML file.
fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_yaml_ng::Deserializer::from_str(&text).map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{rel}: {e}"))).collect()
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| panic!("{what}: expected a string, got {v:?}"))
}

fn seq_of<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    v.as_sequence().unwrap_or_else(|| panic!("{what}: expected a list, got {v:?}"))
}

fn labels(v: &Value, what: &str) -> BTreeMap<String, String> {
    let m = v.as_mapping().unwrap_or_else(|| panic!("{what}: expected a mapping, got {v:?}"));
    m.iter().map(|(k, v)| (str_of(k, what).to_string(), str_of(v, what).to_string())).collect()
}

/// The one document of `kind` in `docs`.
fn doc<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"].as_str() == Some(kind)).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
    found[0]
}

/// The container's arguments as strings (numbers quoted or not).
fn args_of(container: &Value) -> Vec<String> {
    seq_of(&container["args"], "container args")
        .iter()
        .map(|a| match a {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("container arg {other:?} is not a string"),
        })
        .collect()
}

/// The value after `flag` in `args`.
fn flag_value<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args.iter().position(|a| a == flag).unwrap_or_else(|| panic!("{flag} missing from {args:?}"));
    args.get(i + 1).unwrap_or_else(|| panic!("{flag} has no value in {args:?}"))
}

/// Runs this build's `leakhound ARGS --help`: clap parses every flag and value before it prints the
/// help, so success means the arguments are a valid command line of this CLI. Also checks every
/// `--flag` is named in the subcommand's help.
fn assert_real_command_line(args: &[String], whence: &str) {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_leakhound"));
    let out = Command::new(&bin).args(args).arg("--help").output().expect("run leakhound");
    assert!(
        out.status.success(),
        "{whence}: `leakhound {}` is not a valid command line of this build:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains(&format!("leakhound {}", args[0])), "{whence}: the help printed is not that of `{}`:\n{help}", args[0]);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let name = flag.split('=').next().unwrap();
        assert!(help.contains(&format!("{name} ")) || help.contains(&format!("{name}\n")), "{whence}: {name} is not in `leakhound {} --help`", args[0]);
    }
}

/// The port of a `--listen` address such as `0.0.0.0:9464`.
fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or_else(|| panic!("no port in {addr:?}"))
}

/// The targets file the ConfigMap holds, written to a temporary file and read by leakhound's own
/// file_sd loader.
fn load_configmap_targets(configmap: &Value, key: &str) -> Vec<leakhound::source::targets::Target> {
    let text = str_of(&configmap["data"][key], "ConfigMap data");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(key);
    std::fs::write(&path, text).expect("write targets file");
    leakhound::source::targets::load(&path).unwrap_or_else(|e| panic!("the ConfigMap's {key} is not a targets file leakhound reads: {e}"))
}

/// Where a container sees `key` of a ConfigMap mounted from `volumes`, checked to be that ConfigMap.
fn mounted_file(pod: &Value, container: &Value, configmap: &str, key: &str) -> String {
    let volume = seq_of(&pod["volumes"], "volumes")
        .iter()
        .find(|v| v["configMap"]["name"].as_str() == Some(configmap))
        .unwrap_or_else(|| panic!("no volume of ConfigMap {configmap}"));
    let vname = str_of(&volume["name"], "volume name");
    let mount = seq_of(&container["volumeMounts"], "volumeMounts")
        .iter()
        .find(|m| m["name"].as_str() == Some(vname))
        .unwrap_or_else(|| panic!("volume {vname} is not mounted"));
    assert_eq!(mount["readOnly"].as_bool(), Some(true), "the targets volume should be mounted read-only");
    format!("{}/{key}", str_of(&mount["mountPath"], "mountPath").trim_end_matches('/'))
}

#[test]
fn serve_manifests_fit_together_and_the_cli() {
    let rel = "deploy/kubernetes/leakhound-serve.yaml";
    let docs = yaml_docs(rel);
    let kinds: Vec<&str> = docs.iter().map(|d| str_of(&d["kind"], "kind")).collect();
    assert_eq!(kinds, ["ConfigMap", "Deployment", "Service"], "{rel}");
    for d in &docs {
        assert!(d["apiVersion"].as_str().is_some_and(|v| !v.is_empty()), "{rel}: a document without apiVersion");
        assert!(d["metadata"]["name"].as_str().is_some_and(|v| !v.is_empty()), "{rel}: a document without a name");
        assert!(d["metadata"]["namespace"].is_null(), "{rel}: the namespace is chosen with kubectl -n, not in the file");
    }
    let configmap = doc(&docs, "ConfigMap");
    let deployment = doc(&docs, "Deployment");
    let service = doc(&docs, "Service");
    assert_eq!(deployment["apiVersion"].as_str(), Some("apps/v1"));

    // Selectors: the Deployment's and the Service's both select the pod template.
    let pod_labels = labels(&deployment["spec"]["template"]["metadata"]["labels"], "pod labels");
    for (what, selector) in [("Deployment", &deployment["spec"]["selector"]["matchLabels"]), ("Service", &service["spec"]["selector"])] {
        let selector = labels(selector, what);
        assert!(!selector.is_empty(), "{what} selects nothing");
        for (k, v) in &selector {
            assert_eq!(pod_labels.get(k), Some(v), "{what}'s selector {k}={v} does not match the pod labels {pod_labels:?}");
        }
    }

    let pod = &deployment["spec"]["template"]["spec"];
    let containers = seq_of(&pod["containers"], "containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let args = args_of(c);
    assert_eq!(args[0], "serve", "{rel}: the Deployment runs `leakhound serve`");
    assert_real_command_line(&args, rel);

    // The targets file: the ConfigMap's key, mounted where --targets points, read by leakhound.
    let cm_name = str_of(&configmap["metadata"]["name"], "ConfigMap name");
    let keys: Vec<&str> = configmap["data"].as_mapping().expect("ConfigMap data").keys().map(|k| str_of(k, "data key")).collect();
    assert_eq!(keys.len(), 1, "{rel}: the ConfigMap holds the targets file only");
    assert_eq!(flag_value(&args, "--targets"), mounted_file(pod, c, cm_name, keys[0]), "{rel}: --targets is not where the ConfigMap is mounted");
    let targets = load_configmap_targets(configmap, keys[0]);
    assert_eq!(targets.len(), 5, "{rel}: the example lists 5 replicas: {targets:?}");
    assert!(targets.iter().all(|t| t.labels.contains_key("job")), "every example target has a job label: {targets:?}");

    // Ports: --listen, containerPort, the probes and the Service all agree, on all interfaces.
    let listen = flag_value(&args, "--listen");
    assert!(listen.starts_with("0.0.0.0:"), "{rel}: in a pod serve must listen on all interfaces, not {listen}");
    let port = port_of(listen);
    let ports = seq_of(&c["ports"], "ports");
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["containerPort"].as_u64(), Some(port as u64), "{rel}: containerPort is not --listen's port");
    let port_name = str_of(&ports[0]["name"], "port name");
    for (probe, path) in [("readinessProbe", "/-/ready"), ("livenessProbe", "/-/healthy")] {
        assert_eq!(c[probe]["httpGet"]["path"].as_str(), Some(path), "{rel}: {probe}");
        assert_eq!(c[probe]["httpGet"]["port"].as_str(), Some(port_name), "{rel}: {probe} port");
    }
    let sports = seq_of(&service["spec"]["ports"], "Service ports");
    assert_eq!(sports.len(), 1);
    assert_eq!(sports[0]["targetPort"].as_str(), Some(port_name), "{rel}: the Service's targetPort");
    assert_eq!(sports[0]["port"].as_u64(), Some(port as u64), "{rel}: the Service's port");

    // The image runs as the Dockerfile's non-root user, on a read-only root file system.
    assert_eq!(pod["securityContext"]["runAsUser"].as_u64(), Some(65532));
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"].as_bool(), Some(true));
}

#[test]
fn check_cronjob_fits_the_configmap_and_the_cli() {
    let rel = "deploy/kubernetes/leakhound-check-cronjob.yaml";
    let docs = yaml_docs(rel);
    assert_eq!(docs.len(), 1, "{rel}");
    let cron = doc(&docs, "CronJob");
    assert_eq!(cron["apiVersion"].as_str(), Some("batch/v1"));
    let schedule = str_of(&cron["spec"]["schedule"], "schedule");
    assert_eq!(schedule.split_whitespace().count(), 5, "{rel}: a five-field cron schedule, got {schedule:?}");
    assert_eq!(cron["spec"]["concurrencyPolicy"].as_str(), Some("Forbid"), "two checks of one fleet at once double the load");
    let job = &cron["spec"]["jobTemplate"]["spec"];
    assert_eq!(job["backoffLimit"].as_u64(), Some(0), "a leak found (exit 1) is a result: never retried");
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    let c = &seq_of(&pod["containers"], "containers")[0];
    let args = args_of(c);
    assert_eq!(args[0], "check", "{rel}: the CronJob runs `leakhound check`");
    assert_real_command_line(&args, rel);

    // The targets file is the serve manifest's ConfigMap.
    let serve_docs = yaml_docs("deploy/kubernetes/leakhound-serve.yaml");
    let configmap = doc(&serve_docs, "ConfigMap");
    let cm_name = str_of(&configmap["metadata"]["name"], "ConfigMap name");
    let key = str_of(configmap["data"].as_mapping().unwrap().keys().next().unwrap(), "key");
    assert_eq!(flag_value(&args, "--targets"), mounted_file(pod, c, cm_name, key));

    // The whole run fits in the Job's deadline: count × interval plus room for fetches.
    let interval = humantime::parse_duration(flag_value(&args, "--interval")).expect("--interval");
    let count: u32 = flag_value(&args, "--count").parse().expect("--count");
    let deadline = job["activeDeadlineSeconds"].as_u64().expect("activeDeadlineSeconds");
    assert!(interval.as_secs() * count as u64 * 2 <= deadline, "{rel}: {count} × {interval:?} does not fit twice in {deadline} s");

    // --save goes to a writable volume (the root file system is read-only).
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"].as_bool(), Some(true));
    let save = flag_value(&args, "--save");
    let writable: Vec<String> = seq_of(&c["volumeMounts"], "volumeMounts")
        .iter()
        .filter(|m| m["readOnly"].as_bool() != Some(true))
        .filter(|m| {
            let name = m["name"].as_str();
            seq_of(&pod["volumes"], "volumes").iter().any(|v| v["name"].as_str() == name && v.get("emptyDir").is_some())
        })
        .map(|m| str_of(&m["mountPath"], "mountPath").to_string())
        .collect();
    assert!(writable.iter().any(|m| save.starts_with(&format!("{m}/"))), "{rel}: --save {save} is not inside a writable emptyDir mount {writable:?}");
}

/// `FROM`, `CMD` and the like of a Dockerfile: (instruction, rest), continuation lines joined.
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(t);
        let (ins, rest) = cur.split_once(char::is_whitespace).unwrap_or((cur.as_str(), ""));
        out.push((ins.to_ascii_uppercase(), rest.trim().to_string()));
        cur.clear();
    }
    out
}

#[test]
fn dockerfile_builds_this_crate_and_runs_a_real_command_line() {
    let rel = "deploy/Dockerfile";
    let ins = dockerfile_instructions(&read(rel));
    let froms: Vec<&str> = ins.iter().filter(|(i, _)| i == "FROM").map(|(_, r)| r.as_str()).collect();
    assert_eq!(froms.len(), 2, "{rel}: a build stage and a runtime stage");

    // The build image's Rust is at least every package's rust-version in Cargo.lock.
    let image = froms[0].split_whitespace().next().unwrap();
    let tag = image.strip_prefix("rust:").unwrap_or_else(|| panic!("{rel}: the build stage is not an official rust image: {image}"));
    let version = |s: &str| -> (u32, u32) {
        let mut it = s.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    };
    let have = version(tag);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out =
        Command::new(cargo).args(["metadata", "--format-version", "1", "--locked", "--offline"]).current_dir(repo()).output().expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let (need, who) = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((version(p["rust_version"].as_str()?), p["name"].as_str()?.to_string())))
        .max()
        .expect("some rust-version");
    assert!(have >= need, "{rel}: {image} is older than {who}'s rust-version {}.{}", need.0, need.1);

    // It builds the binary from the lock file and copies it into the runtime stage.
    let runs: Vec<&str> = ins.iter().filter(|(i, _)| i == "RUN").map(|(_, r)| r.as_str()).collect();
    assert!(runs.iter().any(|r| r.contains("cargo build --release --locked --bin leakhound")), "{rel}: no locked release build");
    assert!(
        ins.iter().any(|(i, r)| i == "COPY" && r.starts_with("--from=build ") && r.contains("/leakhound")),
        "{rel}: the binary is not copied from the build stage"
    );
    assert!(ins.iter().any(|(i, r)| i == "USER" && r == "65532:65532"), "{rel}: runs as the non-root user the manifests expect");

    // ENTRYPOINT + CMD is a real command line, listening on the port it EXPOSEs.
    let json_list = |what: &str| -> Vec<String> {
        let (_, r) = ins.iter().find(|(i, _)| i == what).unwrap_or_else(|| panic!("{rel}: no {what}"));
        serde_json::from_str(r).unwrap_or_else(|e| panic!("{rel}: {what} is not an exec-form JSON list: {e}"))
    };
    assert_eq!(json_list("ENTRYPOINT"), ["/usr/local/bin/leakhound"]);
    let cmd = json_list("CMD");
    assert_real_command_line(&cmd, rel);
    let expose: u16 = ins.iter().find(|(i, _)| i == "EXPOSE").map(|(_, r)| r.parse().expect("EXPOSE port")).expect("EXPOSE");
    assert_eq!(port_of(flag_value(&cmd, "--listen")), expose);

    // The build context leaves out what is large or local.
    let ignore = read("deploy/Dockerfile.dockerignore");
    for must in ["target", ".git", "bench/data"] {
        assert!(ignore.lines().any(|l| l.trim() == must), "deploy/Dockerfile.dockerignore should leave out {must}");
    }
}

#[test]
fn prometheus_config_scrapes_serve_where_it_listens() {
    let rel = "deploy/prometheus/prometheus.yml";
    let cfg: Value = serde_yaml_ng::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let jobs = seq_of(&cfg["scrape_configs"], "scrape_configs");
    let job = jobs.iter().find(|j| j["job_name"].as_str() == Some("leakhound")).expect("a job named leakhound (the rules' LeakhoundServeDown uses it)");
    assert_eq!(job["honor_labels"].as_bool(), Some(true), "{rel}: the targets' own job labels must win");
    let targets: Vec<&str> = seq_of(&job["static_configs"][0]["targets"], "targets").iter().map(|t| str_of(t, "target")).collect();
    // serve's default --listen, as its help says.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_leakhound"));
    let help = Command::new(&bin).args(["serve", "--help"]).output().expect("leakhound serve --help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("127.0.0.1:9464"), "serve's default --listen is no longer 127.0.0.1:9464:\n{help}");
    assert_eq!(targets, ["127.0.0.1:9464"], "{rel}");
    let rules: Vec<PathBuf> = seq_of(&cfg["rule_files"], "rule_files").iter().map(|r| repo().join("deploy/prometheus").join(str_of(r, "rule file"))).collect();
    assert!(rules.iter().all(|r| r.exists()), "{rel}: rule_files {rules:?}");
}

/// The commands README's "Running on a fleet" shows (its `console` blocks) are real: leakhound's
/// are command lines this build accepts, promtool's run here and pass, and the files docker and
/// kubectl are given exist.
#[test]
fn readme_fleet_commands_are_real() {
    let readme = read("README.md");
    let start = readme.find("### Running on a fleet").expect("README section \"Running on a fleet\"");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n### ").map_or(section.len(), |i| i + 4)];
    let mut seen = BTreeMap::<&str, usize>::new();
    let mut in_block = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_block = !in_block && line.trim() == "```console";
            continue;
        }
        if !in_block {
            continue;
        }
        let cmd = line.split(" #").next().unwrap().trim();
        let words: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
        let file_after = |flag: &str| -> Vec<&String> { words.windows(2).filter(|w| w[0] == flag).map(|w| &w[1]).collect() };
        match words[0].as_str() {
            "leakhound" => assert_real_command_line(&words[1..], "README"),
            "promtool" => {
                let out = Command::new(common::promtool()).args(&words[1..]).current_dir(repo()).output().expect("promtool");
                assert!(out.status.success(), "README: `{cmd}` fails:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            }
            "docker" | "kubectl" => {
                let files = file_after("-f");
                assert!(!files.is_empty(), "README: `{cmd}` names no file");
                for f in files {
                    assert!(repo().join(f).is_file(), "README: `{cmd}`: {f} does not exist");
                }
            }
            other => panic!("README: `{cmd}`: {other} is not checked by this test; add it here"),
        }
        *seen.entry(if words[0] == "leakhound" { "leakhound" } else { "other" }).or_default() += 1;
    }
    assert!(seen.get("leakhound").is_some_and(|&n| n >= 2) && seen.get("other").is_some_and(|&n| n >= 4), "README section lost its commands: {seen:?}");
}
