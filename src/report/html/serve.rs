//! `serve`'s own pages: the overview of the fleet it samples, and a target not sampled yet. Like
//! every page, rendered here from what `serve` hands over, escaped by the templates.

use maud::html;

use super::page_of;
use crate::report::escape::terminal;
use crate::report::fleet::{overview_html, FleetReport, TargetDoc};

/// What the overview says of serve itself, besides the fleet document.
pub struct ServeStatus<'a> {
    pub round: u64,
    pub interval: std::time::Duration,
    pub window: usize,
    /// Targets whose last round failed.
    pub down: &'a [String],
    /// Why the last reload of the targets file failed, while the old list is kept.
    pub reload_error: Option<&'a str>,
}

/// `/`: the fleet overview, each target linking to `link(target)`.
pub fn overview(doc: &FleetReport, status: &ServeStatus, link: &dyn Fn(&TargetDoc) -> String) -> String {
    let body = html! {
        p {
            "leakhound serve: round " (status.round) ", every " (humantime::format_duration(status.interval))
            ", a window of " (status.window) " snapshots per target"
            @if !status.down.is_empty() { "; not answering: " (terminal(&status.down.join(", "))) }
            ". " a href="/metrics" { "/metrics" } " · " a href="/api/v1/report" { "/api/v1/report" }
        }
        @if let Some(e) = status.reload_error { p.error { "The targets file could not be read again (the previous list stays): " (terminal(e)) } }
        (overview_html(doc, &|_, t| link(t)))
    };
    page_of(&format!("leakhound serve: {}", doc.outcome), body)
}

/// `/targets/<name>` of a target with no snapshot yet.
pub fn not_sampled_yet(name: &str, error: Option<&str>) -> String {
    let name = terminal(name);
    let body = html! {
        h1 { "leakhound serve: " code { (name) } " has no snapshot yet" }
        @if let Some(e) = error { p.error { "Its last sampling failed: " (terminal(e)) } }
        p { a href="/" { "All targets" } }
    };
    page_of(&format!("leakhound serve: {name} not sampled yet"), body)
}
