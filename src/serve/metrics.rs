//! `/metrics`: what `serve` knows, in the Prometheus text format (0.0.4) or OpenMetrics 1.0, by the
//! `prometheus-client` crate. The metric names and labels are a contract (`FLEET.md`, the alert
//! rules in `deploy/`): add, never rename.
//!
//! Cardinality is bounded: per target a handful of series, plus two per listed stack for at most
//! `--max-stacks` stacks (the top of its ranking), so at most 4 + targets × (5 + 2 × N) series.
//! Everything in a label comes from a target or its profiles and is untrusted: label names that
//! are not valid Prometheus names are dropped, values are capped in length and control characters
//! are shown as text (the encoder escapes quotes, backslashes and newlines).

use std::collections::BTreeMap;

use prometheus_client::encoding::text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::report::escape;

/// What `/metrics` shows of one target.
#[derive(Debug, Clone, Default)]
pub struct TargetMetrics {
    pub name: String,
    /// The target's own labels (file_sd), as given.
    pub labels: BTreeMap<String, String>,
    /// Whether the last sampling succeeded; `None` before the first one ended.
    pub up: Option<bool>,
    /// Goroutines in the last successful snapshot.
    pub goroutines: Option<i64>,
    /// How long the last sampling took.
    pub sample_seconds: Option<f64>,
    pub errors_total: u64,
    /// Snapshots in the target's rolling window now (`--window` once it is full).
    pub window: usize,
    /// The top listed stacks, in rank order.
    pub suspects: Vec<SuspectMetrics>,
}

#[derive(Debug, Clone)]
pub struct SuspectMetrics {
    pub leaf: String,
    pub pattern: String,
    /// `leak` or `suspect`.
    pub verdict: String,
    pub goroutines: i64,
    pub growth_per_minute: f64,
}

/// Labels leakhound sets itself; a target label of the same name is exported as `exported_NAME`.
const OWN_LABELS: [&str; 4] = ["target", "leaf", "pattern", "verdict"];

/// Longest label value kept (a Go function name can be long; a hostile one can be anything).
pub const MAX_LABEL_VALUE_CHARS: usize = 256;

/// The Content-Type of each format.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Vec<(String, String)>;

/// A target's label set, shared by its series in every family (an `Arc`, not a copy per series:
/// at 10,000 targets the copies were most of what rendering `/metrics` allocated).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct TargetLabelSet(std::sync::Arc<Labels>);

impl prometheus_client::encoding::EncodeLabelSet for TargetLabelSet {
    fn encode(&self, encoder: &mut prometheus_client::encoding::LabelSetEncoder) -> Result<(), std::fmt::Error> {
        self.0.as_slice().encode(encoder)
    }
}

/// A listed stack's series: its target's labels, then leaf, pattern and verdict.
type SuspectLabels = (TargetLabelSet, [(&'static str, String); 3]);

/// A valid Prometheus label name that is not reserved (`__` names are Prometheus' own).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.starts_with("__")
}

/// An untrusted label value: control and bidirectional characters shown as text, capped.
pub fn label_value(s: &str) -> String {
    let shown = escape::terminal(s);
    if shown.chars().count() <= MAX_LABEL_VALUE_CHARS {
        return shown.into_owned();
    }
    let mut out: String = shown.chars().take(MAX_LABEL_VALUE_CHARS - 1).collect();
    out.push('…');
    out
}

/// `target` and the target's own labels, sanitised (see the module comment).
pub fn target_labels(name: &str, labels: &BTreeMap<String, String>) -> Labels {
    let mut out: Labels = vec![("target".into(), label_value(name))];
    for (k, v) in labels {
        if !valid_label_name(k) {
            continue;
        }
        let key = if OWN_LABELS.contains(&k.as_str()) { format!("exported_{k}") } else { k.clone() };
        if out.iter().any(|(have, _)| *have == key) {
            continue;
        }
        out.push((key, label_value(v)));
    }
    out
}

/// The whole exposition; `openmetrics` picks OpenMetrics 1.0 over the Prometheus text format.
pub fn encode(targets: &[TargetMetrics], rounds_total: u64, openmetrics: bool) -> String {
    let mut registry = Registry::default();
    let up = Family::<TargetLabelSet, Gauge>::default();
    let goroutines = Family::<TargetLabelSet, Gauge>::default();
    let duration = Family::<TargetLabelSet, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let errors = Family::<TargetLabelSet, Counter>::default();
    let window = Family::<TargetLabelSet, Gauge>::default();
    let suspect_goroutines = Family::<SuspectLabels, Gauge>::default();
    let suspect_growth = Family::<SuspectLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let count: Gauge = Gauge::default();
    let rounds: Counter = Counter::default();
    count.set(targets.len() as i64);
    rounds.inc_by(rounds_total);
    for t in targets {
        let labels = TargetLabelSet(std::sync::Arc::new(target_labels(&t.name, &t.labels)));
        if let Some(u) = t.up {
            up.get_or_create(&labels).set(i64::from(u));
        }
        if let Some(g) = t.goroutines {
            goroutines.get_or_create(&labels).set(g);
        }
        if let Some(s) = t.sample_seconds {
            duration.get_or_create(&labels).set(s);
        }
        errors.get_or_create(&labels).inc_by(t.errors_total);
        window.get_or_create(&labels).set(i64::try_from(t.window).unwrap_or(i64::MAX));
        for s in &t.suspects {
            let l = (labels.clone(), [("leaf", label_value(&s.leaf)), ("pattern", label_value(&s.pattern)), ("verdict", label_value(&s.verdict))]);
            // Two listed stacks with the same leaf, pattern and verdict (one function reached from
            // two callers) are one series: their goroutines and growth add up.
            suspect_goroutines.get_or_create(&l).inc_by(s.goroutines);
            let g = suspect_growth.get_or_create(&l);
            g.set(g.get() + s.growth_per_minute);
        }
    }
    registry.register("leakhound_targets", "Targets this instance (or shard) samples", count);
    registry.register("leakhound_rounds", "Sampling rounds started since leakhound serve started", rounds);
    registry.register("leakhound_target_up", "1 when the last round's goroutine fetch of the target succeeded, else 0", up);
    registry.register("leakhound_goroutines", "Goroutines in the target's last successful snapshot", goroutines);
    registry.register("leakhound_sample_duration_seconds", "How long the last sampling of the target took (fetch, decode, ranking)", duration);
    registry.register("leakhound_sample_errors", "Failed samplings of the target", errors);
    registry.register("leakhound_window_snapshots", "Snapshots in the target's rolling window (its ranking needs 3; --window once full)", window);
    registry.register(
        "leakhound_suspect_goroutines",
        "Goroutines now in a listed leak or suspect stack of the target; only the top --max-stacks listed stacks per target are exported (bounded cardinality)",
        suspect_goroutines,
    );
    registry.register(
        "leakhound_suspect_growth_per_minute",
        "Growth of a listed stack in goroutines per minute over the window; only the top --max-stacks listed stacks per target",
        suspect_growth,
    );
    let mut out = String::with_capacity(4096 + targets.len() * 512);
    // Writing into a String cannot fail.
    let _ = if openmetrics { text::encode(&mut out, &registry) } else { prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_checked_and_collisions_exported() {
        let labels: BTreeMap<String, String> = [
            ("job", "orders"),
            ("verdict", "mine"),
            ("__meta_x", "no"),
            ("bad-name", "no"),
            ("9lives", "no"),
            ("", "no"),
            ("instance", "a\"b\\c\nd\u{1b}[31m"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let l = target_labels("host:1", &labels);
        let keys: Vec<&str> = l.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["target", "instance", "job", "exported_verdict"]);
        assert_eq!(l[1].1, "a\"b\\c\\nd\\x1b[31m");
        assert_eq!(label_value(&"x".repeat(1000)).chars().count(), MAX_LABEL_VALUE_CHARS);
    }

    #[test]
    fn exposition_has_the_contract_names() {
        let t = TargetMetrics {
            name: "a:1".into(),
            labels: [("job".to_string(), "svc".to_string())].into_iter().collect(),
            up: Some(true),
            goroutines: Some(42),
            sample_seconds: Some(0.25),
            errors_total: 3,
            window: 5,
            suspects: vec![
                SuspectMetrics { leaf: "main.leak".into(), pattern: "forgotten-sender".into(), verdict: "leak".into(), goroutines: 10, growth_per_minute: 5.0 },
                SuspectMetrics { leaf: "main.leak".into(), pattern: "forgotten-sender".into(), verdict: "leak".into(), goroutines: 2, growth_per_minute: 1.5 },
            ],
        };
        let down = TargetMetrics { name: "b:2\"".into(), up: Some(false), errors_total: 7, ..Default::default() };
        for om in [false, true] {
            let text = encode(&[t.clone(), down.clone()], 9, om);
            for line in [
                "leakhound_targets 2",
                "leakhound_rounds_total 9",
                "leakhound_target_up{target=\"a:1\",job=\"svc\"} 1",
                "leakhound_target_up{target=\"b:2\\\"\"} 0",
                "leakhound_goroutines{target=\"a:1\",job=\"svc\"} 42",
                "leakhound_sample_errors_total{target=\"b:2\\\"\"} 7",
                "leakhound_window_snapshots{target=\"a:1\",job=\"svc\"} 5",
                "leakhound_window_snapshots{target=\"b:2\\\"\"} 0",
                "leakhound_suspect_goroutines{target=\"a:1\",job=\"svc\",leaf=\"main.leak\",pattern=\"forgotten-sender\",verdict=\"leak\"} 12",
                "leakhound_suspect_growth_per_minute{target=\"a:1\",job=\"svc\",leaf=\"main.leak\",pattern=\"forgotten-sender\",verdict=\"leak\"} 6.5",
            ] {
                assert!(text.lines().any(|l| l == line), "{line} missing (openmetrics {om}):\n{text}");
            }
            assert_eq!(text.ends_with("# EOF\n"), om);
            assert!(!text.contains("leakhound_goroutines{target=\"b:2"), "no goroutines before a snapshot");
        }
    }
}
