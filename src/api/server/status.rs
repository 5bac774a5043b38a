//! The status page at `/`: the latest intervals with an accepted/rejected bar chart (inline
//! SVG), each miner's history and failure codes, the reporting validators and the current
//! invalid window. Plain HTML, no scripts; every stored string is escaped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::store::{ResultFilter, StoreError, StoredDecision};
use super::{ApiServer, handlers, quorum};

/// Intervals shown.
const SHOWN_INTERVALS: usize = 12;
/// Rows read for the page.
const PAGE_ROWS: usize = 5000;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[derive(Default)]
struct IntervalView {
    accepted: usize,
    rejected: usize,
    validators: BTreeSet<String>,
    /// miner → (accepted by all reporters, failure codes)
    miners: BTreeMap<String, (bool, BTreeSet<String>)>,
}

/// The bar chart: one pair of bars (accepted green, rejected red) per interval, oldest left.
fn chart(intervals: &BTreeMap<u64, IntervalView>) -> String {
    let max = intervals.values().map(|v| v.accepted.max(v.rejected)).max().unwrap_or(1).max(1);
    let (w, h) = (40 * intervals.len().max(1) + 20, 160);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-label=\"accepted and rejected decisions per interval\"><rect width=\"{w}\" height=\"{h}\" fill=\"#f4f6f8\"/>"
    );
    for (i, (id, v)) in intervals.iter().enumerate() {
        let x = 10 + i * 40;
        for (dx, n, color) in [(0, v.accepted, "#2e7d32"), (16, v.rejected, "#c62828")] {
            let bh = 120 * n / max;
            let _ = write!(
                svg,
                "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"{bh}\" fill=\"{color}\"/>",
                x + dx,
                130 - bh
            );
        }
        let _ = write!(svg, "<text x=\"{x}\" y=\"150\" font-size=\"9\">{id}</text>");
    }
    svg.push_str("</svg>");
    svg
}

/// Renders the page from the store.
pub(super) async fn render(server: &ApiServer) -> Result<String, StoreError> {
    let rows = server.store.results(&ResultFilter { limit: PAGE_ROWS, ..Default::default() }).await?;
    let intervals = group(&rows);
    let newest = intervals.keys().next_back().copied();
    let invalid = match newest {
        Some(i) => handlers::invalid_window(server, i).await?,
        None => Vec::new(),
    };
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>nexis validation API</title>\
         <style>body{font-family:sans-serif;margin:2em;color:#222;background:#fff}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}.a{background:#c8e6c9}.r{background:#ffcdd2}\
         code{font-size:12px}</style></head><body><h1>nexis validation API</h1>",
    );
    let allow = server.allowlist();
    let _ = write!(
        html,
        "<p>Store: <code>{}</code>. Allowed validators: {} (metagraph block {}). Invalid quorum: {} of allowed stake.</p>",
        esc(&server.store.describe()),
        allow.stakes.len(),
        allow.block,
        server.config.quorum
    );
    html.push_str("<h2>Latest intervals</h2>");
    if intervals.is_empty() {
        html.push_str("<p>No decisions stored yet.</p>");
    } else {
        html.push_str(&chart(&intervals));
        html.push_str("<p><span class=\"a\">accepted</span> <span class=\"r\">rejected</span></p>");
    }
    miners_table(&mut html, &intervals);
    validators_table(&mut html, &intervals);
    if let Some(i) = newest {
        invalid_section(&mut html, i, &invalid);
    }
    html.push_str("</body></html>");
    Ok(html)
}

/// Tallies `rows` per interval, keeping the first [`SHOWN_INTERVALS`] intervals met.
fn group(rows: &[StoredDecision]) -> BTreeMap<u64, IntervalView> {
    let mut intervals: BTreeMap<u64, IntervalView> = BTreeMap::new();
    for r in rows {
        if intervals.len() >= SHOWN_INTERVALS && !intervals.contains_key(&r.interval_id) {
            continue;
        }
        let v = intervals.entry(r.interval_id).or_default();
        if r.decision.accepted {
            v.accepted += 1
        } else {
            v.rejected += 1
        }
        v.validators.insert(r.validator_hotkey.clone());
        let m = v.miners.entry(r.decision.miner_hotkey.clone()).or_insert((true, BTreeSet::new()));
        m.0 &= r.decision.accepted;
        m.1.extend(r.decision.failures.iter().cloned());
    }
    intervals
}

/// One row per miner: accepted/rejected per interval and the failure codes seen.
fn miners_table(html: &mut String, intervals: &BTreeMap<u64, IntervalView>) {
    html.push_str("<h2>Miners</h2><table><tr><th>miner</th>");
    for id in intervals.keys() {
        let _ = write!(html, "<th>{id}</th>");
    }
    html.push_str("<th>failure codes</th></tr>");
    let miners: BTreeSet<&String> = intervals.values().flat_map(|v| v.miners.keys()).collect();
    for miner in miners {
        let _ = write!(html, "<tr><td><code>{}</code></td>", esc(miner));
        let mut codes = BTreeSet::new();
        for v in intervals.values() {
            match v.miners.get(miner) {
                Some((true, _)) => html.push_str("<td class=\"a\">accepted</td>"),
                Some((false, f)) => {
                    codes.extend(f.iter().cloned());
                    html.push_str("<td class=\"r\">rejected</td>");
                }
                None => html.push_str("<td></td>"),
            }
        }
        let codes: Vec<String> = codes.iter().map(|c| esc(c)).collect();
        let _ = write!(html, "<td>{}</td></tr>", codes.join(", "));
    }
    html.push_str("</table>");
}

/// The validators that reported each interval, newest first.
fn validators_table(html: &mut String, intervals: &BTreeMap<u64, IntervalView>) {
    html.push_str("<h2>Reporting validators</h2><table><tr><th>interval</th><th>validators</th></tr>");
    for (id, v) in intervals.iter().rev() {
        let names: Vec<String> = v.validators.iter().map(|h| format!("<code>{}</code>", esc(h))).collect();
        let _ = write!(html, "<tr><td>{id}</td><td>{}</td></tr>", names.join(" "));
    }
    html.push_str("</table>");
}

/// The invalid window at interval `newest` and the hotkeys in it.
fn invalid_section(html: &mut String, newest: u64, invalid: &[String]) {
    let (lo, hi) = quorum::window(newest);
    let _ = write!(html, "<h2>Invalid window [{lo}, {hi}]</h2>");
    if invalid.is_empty() {
        html.push_str("<p>No miner reached the quorum.</p>");
    } else {
        html.push_str("<ul>");
        for h in invalid {
            let _ = write!(html, "<li><code>{}</code></li>", esc(h));
        }
        html.push_str("</ul>");
    }
}
