//! The fleet document (`leakhound.fleet/v1`): one run over many targets. A fleet summary (which
//! services leak, worst first, with each leaking stack merged across the replicas of its service)
//! and one section per target: its `leakhound.report/v1` leak report, or why it could not be
//! sampled. Text, Markdown, JSON and HTML are pure functions of it, like every other report.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use maud::{html, Markup};
use serde::{Deserialize, Serialize};

use super::escape::terminal as t;
use super::text::{pad, Paint};
use super::{escape, short_file, FrameDoc, LeakReport, OutputFormat, Style, Tool};
use crate::analysis::rank::Verdict;
use crate::stacks::Blocking;

pub const FLEET_SCHEMA: &str = "leakhound.fleet/v1";

/// The labels that name a target's service, in order, when `--group-by-label` is not given.
pub const DEFAULT_GROUP_LABELS: [&str; 2] = ["job", "service"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetReport {
    pub schema: String,
    pub tool: Tool,
    /// The worst of the targets' outcomes: `leak`, `suspect`, `unsampled` (a target could not be
    /// sampled), `inconclusive`, `clean`.
    pub outcome: String,
    /// The labels that name a target's service, the first one a target has wins.
    pub group_by_labels: Vec<String>,
    pub targets_total: usize,
    pub targets_sampled: usize,
    /// Names of the targets that could not be sampled (each has its `error` below).
    pub unsampled: Vec<String>,
    /// Services with a listed stack on at least one replica, worst first.
    pub services: Vec<ServiceDoc>,
    /// One section per target, in the order given.
    pub targets: Vec<TargetDoc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetDoc {
    /// `host:port`, unique in the fleet.
    pub name: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The value of its first grouping label, else its name.
    pub service: String,
    /// `leak`, `suspect`, `clean`, `inconclusive` (as its report's), or `unsampled`.
    pub outcome: String,
    /// Its leak report, when it could be sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<LeakReport>,
    /// Why it could not be sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its snapshot folder, when anything was saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_to: Option<String>,
    /// For `check`: what fails it (`--fail-on`, `--max-goroutines`, the baseline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceDoc {
    pub service: String,
    /// The label that names it (`job`, ...); absent when the service is a target's own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `leak` or `suspect`: the worst of its stacks.
    pub verdict: Verdict,
    /// Its targets in the fleet, and how many of them were sampled.
    pub replicas: usize,
    pub sampled: usize,
    /// Sampled replicas with at least one listed stack.
    pub affected: usize,
    pub stacks: Vec<FleetStackDoc>,
}

/// One stack listed on one or more replicas of a service, merged by its frames' functions (line
/// numbers are the same in replicas of one build; function names survive a rebuild).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetStackDoc {
    /// The worst verdict it got on a replica.
    pub verdict: Verdict,
    pub leaf: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_frame: Option<FrameDoc>,
    pub blocking: Blocking,
    pub pattern: String,
    /// Replicas where it is listed, out of the service's sampled replicas.
    pub replicas: usize,
    pub of_replicas: usize,
    /// Median growth over those replicas ("each"), and their sum.
    pub growth_per_minute: f64,
    pub growth_per_minute_total: f64,
    /// The targets where it is listed, with their rank there.
    pub targets: Vec<FleetStackTarget>,
    /// In words: `leaking in 5 of 6 replicas of orders, +12.0/min each`.
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetStackTarget {
    pub name: String,
    pub rank: usize,
    pub growth_per_minute: f64,
}

/// The service a target belongs to: the value of the first of `labels` it has, else its name.
pub fn service_of<'a>(name: &'a str, target_labels: &'a BTreeMap<String, String>, labels: &'a [String]) -> (&'a str, Option<&'a str>) {
    labels.iter().find_map(|l| target_labels.get(l).filter(|v| !v.is_empty()).map(|v| (v.as_str(), Some(l.as_str())))).unwrap_or((name, None))
}

/// How bad an outcome is, for the worst of a fleet.
fn severity(outcome: &str) -> u8 {
    match outcome {
        "leak" => 4,
        "suspect" => 3,
        "unsampled" => 2,
        "inconclusive" => 1,
        _ => 0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Builds the fleet document from the targets' sections (`service` and `outcome` are filled in
/// here from their labels and reports).
pub fn build(mut targets: Vec<TargetDoc>, group_by_labels: &[String]) -> FleetReport {
    for td in &mut targets {
        td.service = service_of(&td.name, &td.labels, group_by_labels).0.to_string();
        td.outcome = match &td.report {
            Some(r) if !r.outcome.is_empty() => r.outcome.clone(),
            Some(r) => r.verdict.clone(),
            None => "unsampled".into(),
        };
    }
    // Per service: its targets, and its stacks by identity.
    struct Acc<'a> {
        label: Option<String>,
        replicas: usize,
        sampled: usize,
        affected: usize,
        stacks: BTreeMap<Vec<&'a str>, Vec<(&'a TargetDoc, &'a super::SuspectDoc)>>,
    }
    let mut services: BTreeMap<&str, Acc> = BTreeMap::new();
    for td in &targets {
        let (_, label) = service_of(&td.name, &td.labels, group_by_labels);
        let acc = services.entry(td.service.as_str()).or_insert_with(|| Acc {
            label: label.map(String::from),
            replicas: 0,
            sampled: 0,
            affected: 0,
            stacks: BTreeMap::new(),
        });
        acc.replicas += 1;
        let Some(r) = &td.report else { continue };
        acc.sampled += 1;
        acc.affected += usize::from(!r.suspects.is_empty());
        for s in &r.suspects {
            let mut id: Vec<&str> = s.group.stack.iter().map(|f| f.function.as_str()).collect();
            if let Some(l) = &s.group.label {
                id.push(l);
            }
            acc.stacks.entry(id).or_default().push((td, s));
        }
    }
    let mut docs: Vec<ServiceDoc> = Vec::new();
    for (service, acc) in services {
        if acc.stacks.is_empty() {
            continue;
        }
        let mut stacks: Vec<FleetStackDoc> = acc
            .stacks
            .into_values()
            .map(|on| {
                let verdict = on.iter().map(|(_, s)| s.verdict).min().unwrap_or(Verdict::Suspect);
                // Shown as on the replica where it ranks best.
                let (_, best) = on.iter().min_by_key(|(_, s)| (s.verdict, s.rank)).copied().expect("a stack is listed somewhere");
                let replicas = on.iter().map(|(td, _)| td.name.as_str()).collect::<BTreeSet<_>>().len();
                let growth = median(on.iter().map(|(_, s)| s.growth_per_minute).collect());
                let total: f64 = on.iter().map(|(_, s)| s.growth_per_minute).sum();
                let word = if verdict == Verdict::Leak { "leaking" } else { "growing" };
                let summary = match &acc.label {
                    Some(_) => format!("{word} in {replicas} of {} replicas of {service}, {growth:+.1}/min each", acc.sampled),
                    None => format!("{word} in {service}, {growth:+.1}/min"),
                };
                FleetStackDoc {
                    verdict,
                    leaf: best.group.leaf.clone(),
                    leaf_frame: best.group.leaf_frame.clone(),
                    blocking: best.group.blocking,
                    pattern: best.pattern.clone(),
                    replicas,
                    of_replicas: acc.sampled,
                    growth_per_minute: growth,
                    growth_per_minute_total: total,
                    targets: on
                        .iter()
                        .map(|(td, s)| FleetStackTarget { name: td.name.clone(), rank: s.rank, growth_per_minute: s.growth_per_minute })
                        .collect(),
                    summary,
                }
            })
            .collect();
        stacks.sort_by(|a, b| {
            (a.verdict, std::cmp::Reverse(a.replicas))
                .cmp(&(b.verdict, std::cmp::Reverse(b.replicas)))
                .then(b.growth_per_minute.total_cmp(&a.growth_per_minute))
                .then_with(|| a.leaf.cmp(&b.leaf))
        });
        let verdict = stacks.iter().map(|s| s.verdict).min().unwrap_or(Verdict::Suspect);
        docs.push(ServiceDoc {
            service: service.to_string(),
            label: acc.label,
            verdict,
            replicas: acc.replicas,
            sampled: acc.sampled,
            affected: acc.affected,
            stacks,
        });
    }
    let total = |s: &ServiceDoc| s.stacks.iter().map(|x| x.growth_per_minute_total).sum::<f64>();
    docs.sort_by(|a, b| {
        a.verdict.cmp(&b.verdict).then(b.affected.cmp(&a.affected)).then(total(b).total_cmp(&total(a))).then_with(|| a.service.cmp(&b.service))
    });
    let outcome = targets.iter().map(|t| t.outcome.as_str()).max_by_key(|o| severity(o)).unwrap_or("clean").to_string();
    FleetReport {
        schema: FLEET_SCHEMA.into(),
        tool: Tool::default(),
        outcome,
        group_by_labels: group_by_labels.to_vec(),
        targets_total: targets.len(),
        targets_sampled: targets.iter().filter(|t| t.report.is_some()).count(),
        unsampled: targets.iter().filter(|t| t.report.is_none()).map(|t| t.name.clone()).collect(),
        services: docs,
        targets,
    }
}

/// Writes the fleet document in a format (DOT draws one target's graph, so it is refused here).
pub fn write(doc: &FleetReport, format: OutputFormat, style: Style, w: &mut dyn Write) -> std::io::Result<()> {
    match format {
        OutputFormat::Text => text(doc, style, &mut escape::SafeWriter::new(w, style.color)),
        OutputFormat::Json => super::json::write(doc, w),
        OutputFormat::Markdown => markdown(doc, &mut escape::SafeWriter::new(w, false)),
        OutputFormat::Html => w.write_all(fleet_html(doc).as_bytes()),
        OutputFormat::Dot => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "--format dot draws the call graph of one target; over many targets use --format html (a graph per target)",
        )),
    }
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn leaf_location(s: &FleetStackDoc) -> String {
    s.leaf_frame.as_ref().filter(|f| !f.file.is_empty()).map(|f| format!("{}:{}", short_file(&f.file), f.line)).unwrap_or_default()
}

/// The headline: what the fleet amounts to.
pub fn headline(doc: &FleetReport) -> String {
    let leaking = doc.targets.iter().filter(|t| t.report.as_ref().is_some_and(|r| !r.suspects.is_empty())).count();
    let mut s = format!("{}: {leaking} of {} targets with growing stacks in {} service(s)", doc.outcome, doc.targets_total, doc.services.len());
    if !doc.unsampled.is_empty() {
        s.push_str(&format!(", {} could not be sampled", doc.unsampled.len()));
    }
    s
}

fn text(doc: &FleetReport, style: Style, w: &mut dyn Write) -> std::io::Result<()> {
    let p = Paint(style.color);
    writeln!(w, "{}", p.bold(&format!("leakhound fleet: {}", t(&headline(doc)))))?;
    if doc.services.is_empty() {
        writeln!(w, "\nNo service has a growing stack.")?;
    } else {
        writeln!(w, "\nServices with growing stacks, worst first:")?;
    }
    for (i, s) in doc.services.iter().enumerate() {
        let by = s.label.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
        let verdict = s.verdict.name();
        let verdict = if s.verdict == Verdict::Leak { p.red(verdict) } else { p.yellow(verdict) };
        writeln!(
            w,
            "{:>4}  {}  {}{}  {} of {} replicas affected, {} stack(s)",
            i + 1,
            verdict,
            p.bold(&t(&s.service)),
            t(&by),
            s.affected,
            s.sampled,
            s.stacks.len()
        )?;
        for st in &s.stacks {
            writeln!(w, "        {}  {}  {}  {}  {}", pad(st.verdict.name(), 7), t(&st.leaf), t(&leaf_location(st)), st.blocking, t(&st.pattern))?;
            writeln!(w, "               {}", t(&st.summary))?;
        }
    }
    if !doc.unsampled.is_empty() {
        writeln!(w, "\nCould not be sampled:")?;
        for td in doc.targets.iter().filter(|t| t.report.is_none()) {
            writeln!(w, "  {}  {}", p.red(&t(&td.name)), t(td.error.as_deref().unwrap_or("")))?;
        }
    }
    for td in &doc.targets {
        writeln!(w)?;
        let labels = labels_text(&td.labels);
        writeln!(w, "{}", p.bold(&format!("══ {}  {}  {} ══", t(&td.name), t(&labels), td.outcome)))?;
        if let Some(d) = &td.saved_to {
            writeln!(w, "saved in {}", t(d))?;
        }
        match &td.report {
            Some(r) => super::write_leak(r, OutputFormat::Text, style, w)?,
            None => writeln!(w, "could not be sampled: {}", t(td.error.as_deref().unwrap_or("")))?,
        }
        for f in &td.failing {
            writeln!(w, "fails the check: {}", t(f))?;
        }
    }
    Ok(())
}

fn md(s: &str) -> String {
    escape::markdown(s)
}

fn markdown(doc: &FleetReport, w: &mut dyn Write) -> std::io::Result<()> {
    writeln!(w, "## leakhound fleet\n\n**{}**\n", md(&headline(doc)))?;
    if !doc.services.is_empty() {
        writeln!(w, "| # | service | verdict | stack | blocked on | pattern | replicas | growth/min each |")?;
        writeln!(w, "|---:|---|---|---|---|---|---:|---:|")?;
        for (i, s) in doc.services.iter().enumerate() {
            for st in &s.stacks {
                writeln!(
                    w,
                    "| {} | {} | {} | {} {} | {} | {} | {} of {} | {:+.1} |",
                    i + 1,
                    md(&s.service),
                    st.verdict.name(),
                    escape::markdown_code(&st.leaf),
                    md(&leaf_location(st)),
                    st.blocking,
                    md(&st.pattern),
                    st.replicas,
                    st.of_replicas,
                    st.growth_per_minute
                )?;
            }
        }
        writeln!(w)?;
    }
    if !doc.unsampled.is_empty() {
        writeln!(w, "**Could not be sampled:**\n")?;
        for td in doc.targets.iter().filter(|t| t.report.is_none()) {
            writeln!(w, "- {}: {}", escape::markdown_code(&td.name), md(td.error.as_deref().unwrap_or("")))?;
        }
        writeln!(w)?;
    }
    for td in &doc.targets {
        writeln!(w, "### {} {} — {}\n", escape::markdown_code(&td.name), md(&labels_text(&td.labels)), td.outcome)?;
        match &td.report {
            Some(r) => super::write_leak(r, OutputFormat::Markdown, Style::default(), w)?,
            None => writeln!(w, "could not be sampled: {}", md(td.error.as_deref().unwrap_or("")))?,
        }
        for f in &td.failing {
            writeln!(w, "- fails the check: {}", md(f))?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// The id prefix of a target's section in the fleet page.
fn section_prefix(i: usize) -> String {
    format!("t{}-", i + 1)
}

/// The fleet summary as HTML (no page around it): services, their stacks merged across replicas,
/// and every target with its outcome, linking to `target_href(i, target)`.
pub fn overview_html(doc: &FleetReport, target_href: &dyn Fn(usize, &TargetDoc) -> String) -> Markup {
    let shown = super::html::visible(doc);
    let doc = shown.as_ref().unwrap_or(doc);
    let href_of = |name: &str| doc.targets.iter().position(|t| t.name == name).map(|i| target_href(i, &doc.targets[i])).unwrap_or_default();
    html! {
        header {
            h1 { "leakhound fleet: " span class=(format!("verdict v-{}", doc.outcome)) { (doc.outcome) } }
            p { (headline(doc)) }
        }
        section #services {
            h2 { "Services with growing stacks" }
            @if doc.services.is_empty() {
                p { "No service has a growing stack." }
            } @else {
                table.sortable #service-table {
                    thead { tr { th.n { "#" } th { "service" } th { "verdict" } th { "stack" } th { "blocked on" } th { "pattern" } th.n { "replicas" } th.n { "growth/min each" } th { "targets" } } }
                    tbody {
                        @for (i, s) in doc.services.iter().enumerate() {
                            @for st in &s.stacks {
                                tr {
                                    td.n data-v=(i + 1) { (i + 1) }
                                    td { (s.service) @if let Some(l) = &s.label { " " span.loc { "(" (l) ")" } } }
                                    td { span class=(format!("verdict v-{}", st.verdict.name())) { (st.verdict.name()) } }
                                    td { code { (st.leaf) } " " span.loc.mono { (leaf_location(st)) } br; span.loc { (st.summary) } }
                                    td { (st.blocking.as_str()) }
                                    td { (st.pattern) }
                                    td.n data-v=(st.replicas) { (st.replicas) " of " (st.of_replicas) }
                                    td.n data-v=(st.growth_per_minute) { (format!("{:+.1}", st.growth_per_minute)) }
                                    td { @for (k, on) in st.targets.iter().enumerate() { @if k > 0 { ", " } a href=(href_of(&on.name)) { (on.name) } } }
                                }
                            }
                        }
                    }
                }
            }
        }
        section #targets {
            h2 { "Targets" }
            table.sortable #target-table {
                thead { tr { th { "target" } th { "service" } th { "labels" } th { "outcome" } th.n { "suspects" } th { "error" } } }
                tbody {
                    @for (i, td) in doc.targets.iter().enumerate() {
                        tr {
                            td { a href=(target_href(i, td)) { (td.name) } }
                            td { (td.service) }
                            td.mono { (labels_text(&td.labels)) }
                            td { span class=(format!("verdict v-{}", td.outcome)) { (td.outcome) } }
                            td.n { (td.report.as_ref().map_or(0, |r| r.suspects.len())) }
                            td { (td.error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

/// The whole fleet as one self-contained page: the overview, then each target's report as on its
/// own page (charts, suspects, call graph, stacks and fixes), or its error.
pub fn fleet_html(doc: &FleetReport) -> String {
    let shown = super::html::visible(doc);
    let doc = shown.as_ref().unwrap_or(doc);
    let body = html! {
        (overview_html(doc, &|i, _| format!("#{}", section_prefix(i))))
        @for (i, td) in doc.targets.iter().enumerate() {
            section.target id=(section_prefix(i)) {
                h2 { "Target " code { (td.name) } " " span class=(format!("verdict v-{}", td.outcome)) { (td.outcome) } }
                @if !td.labels.is_empty() { p.mono { (labels_text(&td.labels)) } }
                @if let Some(d) = &td.saved_to { p { "Saved in " code { (d) } } }
                @for f in &td.failing { p { "Fails the check: " (f) } }
                @match &td.report {
                    Some(r) => (super::html::leak_section(r, &section_prefix(i))),
                    None => p.error { "Could not be sampled: " (td.error.as_deref().unwrap_or("")) },
                }
            }
        }
    };
    super::html::page_of(&format!("leakhound fleet: {}", doc.outcome), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A leak report with one leaking stack, its growth scaled: one replica of a service.
    fn demo_report(scale: f64) -> LeakReport {
        let json = r#"{"schema":"leakhound.report/v1","tool":{"name":"leakhound","version":"0"},"target":"t","snapshots":[],"verdict":"leak","outcome":"leak","suspects":[
          {"rank":1,"verdict":"leak","score":0.9,"leaf":"main.forgottenSender","blocking":"chan send","stack":[{"function":"runtime.gopark"},{"function":"main.forgottenSender","file":"/src/main.go","line":12}],
           "leaf_frame":{"function":"main.forgottenSender","file":"/src/main.go","line":12},"pattern":"forgotten-sender","hint":"h","counts":[1,2,3,4],"growth_per_minute":10.0,
           "evidence":{"increase":3,"tau":1.0,"nondecreasing_share":1.0,"rising_steps":3,"jump_share":0.3,"drawdown":0.0,"step_noise":0.5}}],"errors":[]}"#;
        let mut r: LeakReport = serde_json::from_str(json).unwrap();
        for s in &mut r.suspects {
            s.growth_per_minute *= scale;
        }
        r
    }

    fn target(name: &str, job: Option<&str>, report: Option<LeakReport>) -> TargetDoc {
        TargetDoc {
            name: name.into(),
            url: format!("http://{name}"),
            labels: job.map(|j| BTreeMap::from([("job".to_string(), j.to_string())])).unwrap_or_default(),
            service: String::new(),
            outcome: String::new(),
            error: report.is_none().then(|| "connection refused".to_string()),
            report,
            saved_to: None,
            failing: Vec::new(),
        }
    }

    #[test]
    fn a_stack_is_merged_across_the_replicas_of_its_service() {
        let mut clean = demo_report(1.0);
        clean.suspects.clear();
        clean.outcome = "clean".into();
        let targets = vec![
            target("a:1", Some("orders"), Some(demo_report(1.0))),
            target("b:1", Some("orders"), Some(demo_report(1.2))),
            target("c:1", Some("orders"), Some(demo_report(3.0))),
            target("d:1", Some("orders"), Some(clean.clone())),
            target("e:1", Some("catalog"), Some(clean)),
            target("f:1", None, Some(demo_report(0.5))),
            target("g:1", Some("payments"), None),
        ];
        let doc = build(targets, &["job".to_string(), "service".to_string()]);
        assert_eq!(doc.outcome, "leak");
        assert_eq!(doc.unsampled, ["g:1"]);
        assert_eq!((doc.targets_total, doc.targets_sampled), (7, 6));
        let names: Vec<&str> = doc.services.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(names, ["orders", "f:1"], "worst first; catalog (clean) and payments (unsampled) not listed");
        let orders = &doc.services[0];
        assert_eq!((orders.replicas, orders.sampled, orders.affected), (4, 4, 3));
        let s = &orders.stacks[0];
        assert_eq!((s.replicas, s.of_replicas), (3, 4));
        assert_eq!(s.growth_per_minute, 12.0, "the median of 10, 12 and 30");
        assert_eq!(s.summary, "leaking in 3 of 4 replicas of orders, +12.0/min each");
        assert_eq!(doc.services[1].stacks[0].summary, "leaking in f:1, +5.0/min");
        assert_eq!(doc.targets[6].outcome, "unsampled");
        // Without a leak, a target that could not be sampled is the worst outcome.
        let mut clean = demo_report(1.0);
        clean.suspects.clear();
        clean.outcome = "clean".into();
        let doc = build(vec![target("a:1", None, Some(clean)), target("b:1", None, None)], &[]);
        assert_eq!(doc.outcome, "unsampled");
    }

    #[test]
    fn hostile_names_stay_text_in_every_format() {
        let mut r = demo_report(1.0);
        r.suspects[0].group.leaf = "<script>alert(1)</script>\u{1b}]0;x\u{7}|`*".into();
        let doc = build(vec![target("a:1", Some("<b>orders\u{202e}</b>"), Some(r))], &["job".to_string()]);
        let html = fleet_html(&doc);
        assert!(!html.contains("<script>alert") && !html.contains("<b>orders") && !html.contains('\u{202e}'), "{html}");
        for format in [OutputFormat::Text, OutputFormat::Markdown, OutputFormat::Json] {
            let mut out = Vec::new();
            write(&doc, format, Style::default(), &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'), "{format:?}: {text}");
        }
        assert!(write(&doc, OutputFormat::Dot, Style::default(), &mut Vec::new()).is_err());
    }
}
