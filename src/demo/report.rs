//! What the demo tells: a timeline of events (intervals opening and closing, each
//! miner's package, each decision with its failure codes and pruning counts, each weight
//! submission as uid → weight), a summary table per participant, and the same as one
//! JSON document for machines.

use std::fmt::Write as _;

use serde::Serialize;

use super::subnet::Role;

/// One participant as the report shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ParticipantInfo {
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) uid: u16,
    pub(crate) hotkey: String,
    /// The bucket the validator reads (miners only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bucket: Option<String>,
}

/// One uid's weight in a submission.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct UidWeight {
    pub(crate) uid: u16,
    pub(crate) name: String,
    pub(crate) weight: u16,
    /// The weight as a share of all weights (0–1).
    pub(crate) share: f64,
}

/// Something that happened.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// The chain, buckets, miners and validator are in place.
    SubnetReady {
        netuid: u16,
        interval_blocks: u64,
        upload_reserve_blocks: u64,
        weight_epoch_blocks: u64,
        intervals: u64,
        participants: Vec<ParticipantInfo>,
    },
    /// A new interval is open for mining.
    IntervalOpened { interval_id: u64, block: u64 },
    /// A miner uploaded its package (manifest last).
    PackagePublished {
        interval_id: u64,
        miner: String,
        role: Role,
        records: u64,
        /// What the miner did, for the dishonest ones.
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A miner published nothing this interval.
    PackageMissing { interval_id: u64, miner: String, role: Role, reason: String },
    /// The upload reserve after the interval has passed; the validator evaluates it.
    IntervalClosed { interval_id: u64, block: u64 },
    /// The validator's decision for one miner.
    Decision {
        interval_id: u64,
        miner: String,
        role: Role,
        uid: u16,
        accepted: bool,
        /// Failure codes without their detail, in order.
        codes: Vec<String>,
        /// The failures as the decision JSON writes them (`code:detail`).
        failures: Vec<String>,
        /// Rows that survived pruning.
        record_count: u64,
        sampled_rows: u64,
        global_overlap_pruned: u64,
        cross_miner_overlap_pruned: u64,
        /// Rows pruned as footage an earlier clip already shows.
        duplicate_content_pruned: u64,
        /// The first of those, `duplicate_content:{clip_id}:{matched clip_id}`.
        duplicate_content: Vec<String>,
    },
    /// The validator set weights on chain (a timelocked commit when `reveal_round` is set).
    WeightsSet {
        epoch: u64,
        block: u64,
        /// Nothing scored: all weight went to the burn uid.
        burned: bool,
        weights: Vec<UidWeight>,
        /// The beacon round the commit is encrypted for (commit-reveal).
        #[serde(skip_serializing_if = "Option::is_none")]
        reveal_round: Option<u64>,
    },
    /// The chain revealed a timelocked commit; the weights it now holds.
    WeightsRevealed { block: u64, weights: Vec<UidWeight> },
    /// Owner mode published the interval's accepted bundles and the merged overlap
    /// snapshot (`record_info.json`, protocol §13).
    OwnerPublished {
        interval_id: u64,
        bundles: usize,
        /// (key, start) entries of the published snapshot; `None` when it was not published.
        snapshot_entries: Option<usize>,
    },
}

/// An event and when it happened, in seconds since the demo started.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Timed {
    pub(crate) at_sec: f64,
    #[serde(flatten)]
    pub(crate) event: Event,
}

/// One row of the summary table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SummaryRow {
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) uid: u16,
    pub(crate) hotkey: String,
    pub(crate) intervals_published: u64,
    pub(crate) intervals_accepted: u64,
    pub(crate) intervals_rejected: u64,
    /// Sum of post-prune rows over accepted intervals.
    pub(crate) rows_kept: u64,
    /// Rows pruned as already published (globally or by another miner earlier) or as
    /// footage an earlier clip already shows (`duplicate_content`).
    pub(crate) rows_pruned: u64,
    /// Failure codes this miner received (distinct, first-seen order).
    pub(crate) failure_codes: Vec<String>,
    /// The weight the validator's last submission gives this uid (u16 on chain).
    pub(crate) final_weight: u16,
    pub(crate) final_share: f64,
}

/// The whole demo run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DemoReport {
    pub(crate) workdir: String,
    /// Whether `workdir` is removed when the command ends.
    pub(crate) workdir_temporary: bool,
    pub(crate) timeline: Vec<Timed>,
    /// The summary table, one row per participant.
    pub summary: Vec<SummaryRow>,
    /// The validation API's invalid window at the last interval (the demo runs `nexis api`).
    pub(crate) invalid_window: Option<crate::evidence_server::local::InvalidWindow>,
    /// Wall time of the whole run, seconds.
    pub elapsed_sec: f64,
}

/// `5Gx3ab...9fQk`: enough of a hotkey to tell participants apart.
pub(crate) fn short_hotkey(hotkey: &str) -> String {
    let chars: Vec<char> = hotkey.chars().collect();
    if chars.len() <= 12 {
        return hotkey.to_string();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Validator => "validator",
        Role::Honest => "honest",
        Role::ResolutionLiar => "resolution liar",
        Role::Copier => "copier",
        Role::Absentee => "absentee",
        Role::Fabricator => "fabricator",
        Role::Reuploader => "reuploader",
    }
}

/// The human lines of one event (no trailing newline).
pub fn render_event(t: &Timed) -> String {
    let at = format!("[{:>6.1}s]", t.at_sec);
    let mut out = String::new();
    match &t.event {
        Event::SubnetReady {
            netuid,
            interval_blocks,
            upload_reserve_blocks,
            weight_epoch_blocks,
            intervals,
            participants,
        } => {
            let _ = writeln!(
                out,
                "{at} subnet {netuid} ready on an embedded chain: intervals of {interval_blocks} blocks (+{upload_reserve_blocks} \
                 upload reserve), weights every {weight_epoch_blocks} blocks; running {intervals} intervals"
            );
            write_participants(&mut out, participants);
            out.pop();
        }
        Event::IntervalOpened { interval_id, block } => {
            let _ =
                write!(out, "{at} block {block:>3}: interval {interval_id} opens; miners build and upload packages");
        }
        Event::PackagePublished { miner, records, note, .. } => {
            let _ = write!(out, "{at}            {miner:<10} published {records} clip(s)");
            if let Some(note) = note {
                let _ = write!(out, " -- {note}");
            }
        }
        Event::PackageMissing { miner, reason, .. } => {
            let _ = write!(out, "{at}            {miner:<10} published nothing -- {reason}");
        }
        Event::IntervalClosed { interval_id, block } => {
            let _ = write!(out, "{at} block {block:>3}: interval {interval_id} closed; the validator evaluates it");
        }
        Event::Decision { miner, .. } => {
            let _ = write!(out, "{at}            {miner:<10} {}", decision_verdict(&t.event));
        }
        Event::WeightsSet { epoch, block, burned, weights, reveal_round } => {
            let why = if *burned { " -- nothing scored yet, so all weight goes to uid 0 (burn)" } else { "" };
            let what = match reveal_round {
                Some(round) => format!("weights committed (timelocked until round {round})"),
                None => "weights set".to_string(),
            };
            let _ = write!(out, "{at} block {block:>3}: {what} for epoch {epoch}: {}{why}", weight_list(weights));
        }
        Event::OwnerPublished { interval_id, bundles, snapshot_entries } => {
            let snapshot = match snapshot_entries {
                Some(n) => format!("record_info.json with {n} (source, start) entries"),
                None => "no record_info.json (see the log)".to_string(),
            };
            let _ = write!(
                out,
                "{at}            owner published {bundles} bundle(s) of interval {interval_id} and {snapshot}"
            );
        }
        Event::WeightsRevealed { block, weights } => {
            let _ = write!(
                out,
                "{at} block {block:>3}: the chain revealed the committed weights: {}",
                weight_list(weights)
            );
        }
    }
    out
}

/// The verdict of a [`Event::Decision`]: the accepted package's summary, or the rejection
/// with its failures (empty for any other event).
fn decision_verdict(event: &Event) -> String {
    let Event::Decision {
        accepted,
        failures,
        record_count,
        sampled_rows,
        global_overlap_pruned,
        cross_miner_overlap_pruned,
        duplicate_content_pruned,
        duplicate_content,
        ..
    } = event
    else {
        return String::new();
    };
    if !*accepted {
        return format!("REJECTED  {}", failures.join(", "));
    }
    let mut line = accepted_summary(*record_count, *sampled_rows, *global_overlap_pruned, *cross_miner_overlap_pruned);
    if *duplicate_content_pruned > 0 {
        let _ = write!(
            line,
            "; pruned {duplicate_content_pruned} as footage already published: {}",
            duplicate_content.join(", ")
        );
    }
    line
}

/// One line per participant under the "subnet ready" line.
fn write_participants(out: &mut String, participants: &[ParticipantInfo]) {
    for p in participants {
        let _ = writeln!(
            out,
            "           uid {:<2} {:<10} {:<15} {}  ({})",
            p.uid,
            p.name,
            role_label(p.role),
            short_hotkey(&p.hotkey),
            p.role.describe()
        );
    }
}

/// What an accepted decision kept, sampled and pruned.
fn accepted_summary(record_count: u64, sampled_rows: u64, global_pruned: u64, cross_miner_pruned: u64) -> String {
    let mut out = format!("ACCEPTED  {record_count} row(s) kept, {sampled_rows} sampled");
    if global_pruned + cross_miner_pruned > 0 {
        let _ = write!(
            out,
            "; pruned {global_pruned} already published, {cross_miner_pruned} published earlier by another miner"
        );
    }
    out
}

/// `uid U (name) W = share` for each weight, comma-separated.
fn weight_list(weights: &[UidWeight]) -> String {
    let list: Vec<String> =
        weights.iter().map(|w| format!("uid {} ({}) {} = {:.3}", w.uid, w.name, w.weight, w.share)).collect();
    list.join(", ")
}

/// The summary table.
pub fn render_summary(rows: &[SummaryRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<15} {:>3}  {:<13}  {:>8} {:>8} {:>9} {:>11}  {:>12}  failures",
        "miner", "role", "uid", "hotkey", "accepted", "rejected", "rows kept", "rows pruned", "final weight"
    );
    for r in rows {
        let codes = if r.failure_codes.is_empty() { "-".to_string() } else { r.failure_codes.join(", ") };
        let _ = writeln!(
            out,
            "{:<10} {:<15} {:>3}  {:<13}  {:>8} {:>8} {:>9} {:>11}  {:>5} {:>5.1}%  {codes}",
            r.name,
            role_label(r.role),
            r.uid,
            short_hotkey(&r.hotkey),
            r.intervals_accepted,
            r.intervals_rejected,
            r.rows_kept,
            r.rows_pruned,
            r.final_weight,
            r.final_share * 100.0,
        );
    }
    out
}

/// The whole report as text: timeline, then the summary table.
pub fn render(report: &DemoReport) -> String {
    let mut out = String::new();
    for t in &report.timeline {
        out.push_str(&render_event(t));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&render_summary(&report.summary));
    out.push_str(&render_invalid_window(report));
    out
}

/// The validation API's invalid window as one line after the summary (empty when the
/// demo's API did not answer).
pub fn render_invalid_window(report: &DemoReport) -> String {
    let Some(w) = &report.invalid_window else { return String::new() };
    let listed = if w.names.is_empty() { "none".to_string() } else { w.names.join(", ") };
    format!(
        "\nvalidation API (nexis api): invalid window [{}, {}] of interval {}: {listed}\n",
        w.start, w.end, w.interval_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_their_kind_and_time() {
        let t = Timed { at_sec: 1.5, event: Event::IntervalOpened { interval_id: 10, block: 12 } };
        let json = serde_json::to_value(&t).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"at_sec": 1.5, "event": "interval_opened", "interval_id": 10, "block": 12})
        );
        assert!(render_event(&t).contains("interval 10 opens"));
    }

    #[test]
    fn hotkeys_are_shortened() {
        assert_eq!(short_hotkey("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"), "5Grwva...utQY");
        assert_eq!(short_hotkey("short"), "short");
    }
}
