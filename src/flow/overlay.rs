//! `rivr graph --stats FILE`: the counts of `rivr stats --format json` laid over the graph.
//!
//! A stats site (`file:line` of the script-level `ask`/`menu`/`collect` call) is matched to the
//! input node written at that place; its menu choices to the node's `choice` edges by key, and
//! its failed visits (no match or no input on the last try) to its `failure` edge. Counts of a
//! site are summed over every flow and version that reached it: the stats name no script
//! version the graph could check, so a file from another version of a script can only be
//! caught by its sites falling on lines that hold no input node, which [`Overlay::warnings`]
//! reports.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::graph::{EdgeKind, Graph, NodeKind};
use super::render::is_input;
use crate::stats::{SiteStats, StatsReport};

/// A no-input or no-match share at or above this marks a node as one that confuses callers.
pub const HIGH_SHARE: f64 = 0.2;

/// Why a stats file could not be laid over a graph.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("{}: cannot read the stats file: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: not the JSON of `rivr stats --format json`: {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
}

/// Read a `rivr stats --format json` file.
pub fn read(path: &Path) -> Result<StatsReport, OverlayError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| OverlayError::Read { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| OverlayError::Parse { path: path.to_path_buf(), source })
}

/// The counts of one input node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeCounts {
    pub reached: u64,
    pub matched: u64,
    pub nomatch: u64,
    pub noinput: u64,
    pub hung_up: u64,
    pub retries: u64,
}

impl NodeCounts {
    fn share(&self, n: u64) -> f64 {
        if self.reached == 0 {
            0.0
        } else {
            n as f64 / self.reached as f64
        }
    }

    /// Share of visits that ended with no input.
    pub fn noinput_share(&self) -> f64 {
        self.share(self.noinput)
    }

    /// Share of visits whose last answer was no valid choice.
    pub fn nomatch_share(&self) -> f64 {
        self.share(self.nomatch)
    }

    /// Whether callers stumble here often enough to stand out in a drawing.
    pub fn high(&self) -> bool {
        self.noinput_share() >= HIGH_SHARE || self.nomatch_share() >= HIGH_SHARE
    }

    /// The line a drawing adds under the node's label.
    pub fn note(&self) -> String {
        format!(
            "{} reached · noinput {:.0}% · nomatch {:.0}%",
            self.reached,
            self.noinput_share() * 100.0,
            self.nomatch_share() * 100.0
        )
    }
}

/// How often callers took one edge out of an input node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EdgeCount {
    pub count: u64,
    /// Of the node's visits, 0 to 1.
    pub share: f64,
}

impl EdgeCount {
    /// What a drawing adds to the edge's label.
    pub fn note(&self) -> String {
        format!("{} ({:.0}%)", self.count, self.share * 100.0)
    }
}

/// The counts matched to a graph's nodes (by id) and edges (by index).
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    pub nodes: HashMap<usize, NodeCounts>,
    pub edges: HashMap<usize, EdgeCount>,
    /// What did not match, for the user: one sentence each.
    pub warnings: Vec<String>,
}

impl Overlay {
    /// Lay `report` (read from `source`, named in warnings) over `graph`.
    pub fn new(graph: &Graph, report: &StatsReport, source: &Path) -> Overlay {
        let mut sites: BTreeMap<(&str, usize), Vec<&SiteStats>> = BTreeMap::new();
        for site in report.flows.iter().flat_map(|f| &f.sites) {
            sites.entry((site.file.as_str(), site.line)).or_default().push(site);
        }
        let mut overlay = Overlay::default();
        let mut stale = Vec::new();
        for ((file, line), visits) in &sites {
            let drawn = graph.scripts.iter().any(|s| s.name == *file);
            let node = graph.nodes.iter().position(|n| {
                n.kind == NodeKind::Verb && n.script == *file && n.line == *line && is_input(n)
            });
            match node {
                Some(id) => overlay.add(graph, id, visits),
                // A script the graph does not draw: nothing to say about it.
                None if !drawn => {}
                None => stale.push(format!("{file}:{line}")),
            }
        }
        let name = source.display();
        if overlay.nodes.is_empty() && !sites.is_empty() {
            overlay.warnings.push(format!(
                "{name}: none of its {} sites is an ask, menu or collect of these scripts; the stats \
                 are of other scripts or of another version of them, so the graph has no counts",
                sites.len()
            ));
        } else if !stale.is_empty() {
            overlay.warnings.push(format!(
                "{name}: {} site(s) fall on lines with no ask, menu or collect (stats of another \
                 version?), left out: {}",
                stale.len(),
                stale.join(", ")
            ));
        }
        overlay
    }

    fn add(&mut self, graph: &Graph, id: usize, visits: &[&SiteStats]) {
        let mut total = SiteStats::default();
        for site in visits {
            total.add(site);
        }
        let counts = NodeCounts {
            reached: total.reached,
            matched: total.matched,
            nomatch: total.nomatch,
            noinput: total.noinput,
            hung_up: total.hung_up,
            retries: total.retries,
        };
        let choices = &total.choices;
        for (index, edge) in graph.edges.iter().enumerate().filter(|(_, e)| e.from == id) {
            let count = match (edge.kind, edge.label.as_deref()) {
                (EdgeKind::Choice, Some(key)) => choices.get(key).copied().unwrap_or(0),
                // A menu's last try failed: it got no valid key, or none.
                (EdgeKind::Failure, _) => counts.nomatch + counts.noinput,
                _ => continue,
            };
            self.edges.insert(index, EdgeCount { count, share: counts.share(count) });
        }
        self.nodes.insert(id, counts);
    }

    /// The `stats` field of a node in `rivr graph --format json`.
    pub fn node_json(&self, id: usize) -> Option<Value> {
        let c = self.nodes.get(&id)?;
        Some(json!({
            "reached": c.reached,
            "match": c.matched,
            "nomatch": c.nomatch,
            "noinput": c.noinput,
            "hung_up": c.hung_up,
            "retries": c.retries,
            "noinput_share": c.noinput_share(),
            "nomatch_share": c.nomatch_share(),
            "high": c.high(),
        }))
    }

    /// The `stats` field of an edge in `rivr graph --format json`.
    pub fn edge_json(&self, index: usize) -> Option<Value> {
        let e = self.edges.get(&index)?;
        Some(json!({"count": e.count, "share": e.share}))
    }
}
