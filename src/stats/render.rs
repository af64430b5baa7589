//! `rivr stats` output: a table and a funnel per flow (`--format text`), or the report as JSON
//! (`--format json`, which `rivr graph --stats` reads back).

use std::fmt::Write as _;

use crate::stats::report::StatsReport;

/// The report as text: per flow, a table of sites and the funnel.
pub fn text(report: &StatsReport) -> String {
    let mut out = String::new();
    if report.flows.is_empty() {
        let _ = writeln!(out, "no calls in {} traces", report.traces);
        return out;
    }
    for flow in &report.flows {
        let _ = writeln!(
            out,
            "{} @ {}: {} calls, {} hung up",
            flow.script, flow.version, flow.calls, flow.hung_up
        );
        let _ = writeln!(
            out,
            "  {:<24} {:<6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  choices",
            "site", "verb", "reached", "match", "nomatch", "noinput", "hung_up", "retries"
        );
        for site in &flow.sites {
            let choices =
                site.choices.iter().map(|(key, n)| format!("{key}={n}")).collect::<Vec<_>>().join(" ");
            let _ = writeln!(
                out,
                "  {:<24} {:<6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}  {choices}",
                site.site,
                site.function,
                site.reached,
                site.matched,
                site.nomatch,
                site.noinput,
                site.hung_up,
                site.retries
            );
        }
        let _ =
            writeln!(out, "  funnel (share of calls reaching each site; drop-offs; median time to reach):");
        for site in &flow.sites {
            let bar = "#".repeat((site.funnel.share * 20.0).round() as usize);
            let _ = writeln!(
                out,
                "  {:<24} {:>5.1}% {:<20} {:>5} dropped  {:>7} ms",
                site.site,
                site.funnel.share * 100.0,
                bar,
                site.funnel.dropped,
                site.funnel.median_ms
            );
        }
        out.push('\n');
    }
    out
}

/// The report as pretty JSON.
pub fn json(report: &StatsReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}
