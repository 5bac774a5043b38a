//! The status page at `/`: the latest intervals with an accepted/rejected bar chart (inline
//! SVG), each miner's history and failure codes, the reporting validators and the current
//! invalid window. Plain HTML, no scripts.
//!
//! The page follows the quorum, so one validator cannot take it over: an interval is shown
//! only when the validators that reported it hold the quorum's share of the allowed stake,
//! and never past the chain's current block; a miner is "rejected" at an interval only when
//! its rejecting reporters reach the quorum ("disputed" when some, not enough, rejected).
//! Every stored string is HTML-escaped, and bidi controls and other invisible characters are
//! shown as `\u{…}` escapes. The page names neither the store's path nor its host.

use crate::protocol::IntervalId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::quorum::Allowlist;
use super::store::{ResultFilter, StoreError, StoredDecision};
use super::votes::CACHE_SPAN;
use super::{EvidenceServer, quorum};

/// Intervals shown.
const SHOWN_INTERVALS: usize = 12;
/// Rows read per shown interval.
const INTERVAL_ROWS: usize = 5000;
/// Bytes of rows read per shown interval.
const INTERVAL_BYTES: usize = 2 << 20;
/// Reporter pairs read to choose the intervals.
const MAX_REPORTER_PAIRS: usize = 50_000;

/// Whether `c` is a control, bidi or invisible formatting character (shown escaped).
fn is_hidden(c: char) -> bool {
    matches!(c as u32,
        0x00..=0x1F | 0x7F..=0x9F | 0xAD | 0x34F | 0x61C | 0x115F | 0x1160 | 0x17B4 | 0x17B5
        | 0x180B..=0x180F | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0x3164
        | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// HTML-escapes `s`, showing hidden characters as `\u{…}`.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_hidden(c) => {
                let _ = write!(out, "<span class=\"esc\">\\u{{{:X}}}</span>", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A miner's standing at one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Accepted,
    Disputed,
    Rejected,
}

#[derive(Default)]
struct IntervalView {
    validators: BTreeSet<String>,
    /// miner → (rejecting reporters, failure codes)
    miners: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>,
    /// miner → the quorum's standing
    standing: BTreeMap<String, Standing>,
}

impl IntervalView {
    fn count(&self, s: Standing) -> usize {
        self.standing.values().filter(|v| **v == s).count()
    }
}

/// The bar chart: one pair of bars (accepted green, rejected red) per interval, oldest left.
fn chart(intervals: &BTreeMap<u64, IntervalView>) -> String {
    let counts: Vec<(u64, usize, usize)> =
        intervals.iter().map(|(id, v)| (*id, v.count(Standing::Accepted), v.count(Standing::Rejected))).collect();
    let max = counts.iter().map(|(_, a, r)| *a.max(r)).max().unwrap_or(1).max(1);
    let (w, h) = (40 * intervals.len().max(1) + 20, 160);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-label=\"accepted and rejected miners per interval\"><rect width=\"{w}\" height=\"{h}\" fill=\"#f4f6f8\"/>"
    );
    for (i, (id, accepted, rejected)) in counts.into_iter().enumerate() {
        let x = 10 + i * 40;
        for (dx, n, color) in [(0, accepted, "#2e7d32"), (16, rejected, "#c62828")] {
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

/// The newest intervals (at most [`SHOWN_INTERVALS`], none past the current block) whose
/// reporters hold the quorum's share of the allowed stake.
async fn chosen_intervals(server: &EvidenceServer, allow: &Allowlist) -> Result<Vec<u64>, StoreError> {
    let (lo, hi) = match server.current_block() {
        Some(block) => (block.saturating_sub(CACHE_SPAN), block),
        None => (0, i64::MAX as u64),
    };
    let pairs = server.store.reporters(IntervalId::new(lo)..=IntervalId::new(hi), MAX_REPORTER_PAIRS).await?;
    let mut by_interval: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for (interval, validator) in &pairs {
        if allow.allows(validator) {
            by_interval.entry(*interval).or_default().insert(validator);
        }
    }
    Ok(by_interval
        .into_iter()
        .rev()
        .filter(|(_, reporters)| allow.reaches(reporters, server.config.quorum))
        .map(|(i, _)| i)
        .take(SHOWN_INTERVALS)
        .collect())
}

/// Renders the page from the store.
pub(super) async fn render(server: &EvidenceServer) -> Result<String, StoreError> {
    let allow = server.allowlist();
    let mut intervals: BTreeMap<u64, IntervalView> = BTreeMap::new();
    for interval in chosen_intervals(server, &allow).await? {
        let filter = ResultFilter {
            interval_id: Some(interval),
            limit: INTERVAL_ROWS,
            max_bytes: INTERVAL_BYTES,
            ..Default::default()
        };
        let rows = server.store.results(&filter).await?.rows;
        intervals.insert(interval, view(&rows, &allow, server));
    }
    let newest = intervals.keys().next_back().copied();
    let invalid = match newest {
        Some(i) => server.invalid_window(i).await?,
        None => Vec::new(),
    };
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>nexis evidence API</title>\
         <style>body{font-family:sans-serif;margin:2em;color:#222;background:#fff}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}.a{background:#c8e6c9}.r{background:#ffcdd2}\
         .d{background:#fff3c4}.esc{color:#b00;font-family:monospace}code{font-size:12px}</style></head>\
         <body><h1>nexis evidence API</h1>",
    );
    let _ = write!(
        html,
        "<p>Allowed validators: {} (metagraph block {}). Invalid quorum: {} of allowed stake. Intervals are shown \
         when validators holding the quorum reported them.</p>",
        allow.stakes.len(),
        allow.block,
        server.config.quorum
    );
    html.push_str("<h2>Latest intervals</h2>");
    if intervals.is_empty() {
        html.push_str("<p>No interval reported by the quorum yet.</p>");
    } else {
        html.push_str(&chart(&intervals));
        html.push_str(
            "<p><span class=\"a\">accepted</span> <span class=\"r\">rejected (quorum)</span> \
             <span class=\"d\">disputed (below the quorum)</span></p>",
        );
    }
    miners_table(&mut html, &intervals);
    validators_table(&mut html, &intervals);
    if let Some(i) = newest {
        invalid_section(&mut html, i, &invalid);
    }
    html.push_str("</body></html>");
    Ok(html)
}

/// Tallies one interval's rows and gives each miner the quorum's standing.
fn view(rows: &[StoredDecision], allow: &Allowlist, server: &EvidenceServer) -> IntervalView {
    let mut v = IntervalView::default();
    for r in rows.iter().filter(|r| allow.allows(&r.validator_hotkey)) {
        v.validators.insert(r.validator_hotkey.clone());
        let m = v.miners.entry(r.decision.miner_hotkey.clone()).or_default();
        if !r.decision.accepted {
            m.0.insert(r.validator_hotkey.clone());
            m.1.extend(r.decision.failures.iter().cloned());
        }
    }
    for (miner, (rejecters, _)) in &v.miners {
        let names: BTreeSet<&str> = rejecters.iter().map(String::as_str).collect();
        let standing = if rejecters.is_empty() {
            Standing::Accepted
        } else if allow.reaches(&names, server.config.quorum) {
            Standing::Rejected
        } else {
            Standing::Disputed
        };
        v.standing.insert(miner.clone(), standing);
    }
    v
}

/// One row per miner: the quorum's standing per interval and the failure codes seen.
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
            match (v.standing.get(miner), v.miners.get(miner)) {
                (Some(Standing::Accepted), _) => html.push_str("<td class=\"a\">accepted</td>"),
                (Some(s), Some((_, f))) => {
                    codes.extend(f.iter().cloned());
                    let (class, word) = if *s == Standing::Rejected { ("r", "rejected") } else { ("d", "disputed") };
                    let _ = write!(html, "<td class=\"{class}\">{word}</td>");
                }
                _ => html.push_str("<td></td>"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_shown_escaped() {
        assert_eq!(esc("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
        let spoof = esc("5Good\u{202E}reniM\u{200B}x\u{2066}");
        assert!(!spoof.contains('\u{202E}') && !spoof.contains('\u{200B}') && !spoof.contains('\u{2066}'));
        assert!(spoof.contains("\\u{202E}") && spoof.contains("\\u{200B}") && spoof.contains("\\u{2066}"), "{spoof}");
        assert_eq!(esc("5Grüße ✓"), "5Grüße ✓", "visible text is kept");
    }
}
