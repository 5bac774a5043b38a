//! The per-miner decision of protocol §8, built in one place.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Failure, FailureList};

/// Details attached to a decision. Field order follows protocol §8.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecisionNotes {
    /// Dataset rows (protocol §8 `record_count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_count: Option<u64>,
    /// Rows sampled for asset checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled_record_count: Option<u64>,
    /// Rows pruned as overlapping the global record-info index (protocol §10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_overlap_pruned_count: Option<u64>,
    /// Rows pruned as overlapping other miners' clips of this interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_miner_overlap_pruned_count: Option<u64>,
    /// Rows pruned as the same footage as an earlier clip of another miner or an earlier
    /// interval (near-duplicate content); absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_content_pruned_count: Option<u64>,
    /// The first of those rows, each `duplicate_content:{clip_id}:{matched clip_id}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicate_content: Vec<String>,
    /// The manifest's dataset spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_id: Option<String>,
    /// The manifest's category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// How many failures were found, when more than the decision lists (rev. 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures_total: Option<u64>,
    /// Failures found per code, when more than the decision lists (rev. 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures_by_code: Option<BTreeMap<String, u64>>,
    /// Indices of the sampled rows, ascending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled_row_indices: Option<Vec<usize>>,
    /// The unpredictable extra rows checked (§9 rev. 2), when extra sampling ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_sampled_row_indices: Option<Vec<usize>>,
    /// Human-readable cause of a load-stage failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// sha256 the manifest declares (on `dataset_sha256_mismatch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_dataset_sha256: Option<String>,
    /// sha256 of the downloaded dataset (on `dataset_sha256_mismatch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_dataset_sha256: Option<String>,
    /// Rows the manifest declares (on `manifest_record_count_mismatch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_record_count: Option<u64>,
    /// Rows the dataset holds (on `manifest_record_count_mismatch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_record_count: Option<u64>,
    /// The manifest's upload time, RFC 3339 (on `late_submission`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_last_modified: Option<String>,
    /// The upload deadline, RFC 3339 (on `late_submission`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_deadline: Option<String>,
    /// Checks that could not run for reasons on the validator's side.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unavailable_checks: Vec<String>,
    /// Observations from the content checks that did not fail a row (instruction-like
    /// caption text, category scores of rejected rows).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub check_remarks: Vec<String>,
}

/// The decision for one miner and one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// SS58 hotkey of the miner.
    pub miner_hotkey: String,
    /// The interval id (its first block).
    pub interval_id: u64,
    /// Whether the package passed every check.
    pub accepted: bool,
    /// Failures, in check order, at most [`MAX_DECISION_FAILURES`](super::MAX_DECISION_FAILURES).
    pub failures: Vec<Failure>,
    /// Rows that survived pruning; the miner's score for the interval.
    pub record_count: u64,
    /// Rows sampled for asset checks.
    pub sampled_rows: u64,
    #[serde(serialize_with = "serialize_checked_at")]
    pub(crate) checked_at: DateTime<Utc>,
    /// Protocol §8 notes.
    pub notes: DecisionNotes,
}

fn serialize_checked_at<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

impl Decision {
    /// A decision ending at a load-stage failure: zero records, zero sampled rows.
    pub fn load_failure(miner_hotkey: &str, interval_id: u64, failure: Failure, notes: DecisionNotes) -> Self {
        Self {
            miner_hotkey: miner_hotkey.to_string(),
            interval_id,
            accepted: false,
            failures: vec![failure],
            record_count: 0,
            sampled_rows: 0,
            checked_at: Utc::now(),
            notes,
        }
    }

    /// A decision after the full pipeline; accepted iff there is no failure. Only the
    /// first failures are listed; when some were only counted, `notes` carries the total
    /// and the count per code (protocol §8, rev. 2).
    pub fn evaluated(
        miner_hotkey: &str,
        interval_id: u64,
        failures: impl Into<FailureList>,
        record_count: u64,
        sampled_rows: u64,
        mut notes: DecisionNotes,
    ) -> Self {
        let failures = failures.into();
        if failures.is_truncated() {
            notes.failures_total = Some(failures.total());
            notes.failures_by_code = Some(failures.by_code());
        }
        Self {
            miner_hotkey: miner_hotkey.to_string(),
            interval_id,
            accepted: failures.is_empty(),
            failures: failures.into_kept(),
            record_count,
            sampled_rows,
            checked_at: Utc::now(),
            notes,
        }
    }

    /// The exact decision JSON (compact).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_matches_protocol_example() {
        let notes = DecisionNotes {
            record_count: Some(12),
            sampled_record_count: Some(3),
            global_overlap_pruned_count: Some(0),
            cross_miner_overlap_pruned_count: Some(0),
            spec_id: Some("video_v1".into()),
            category: Some("nature_landscape_scenery".into()),
            ..Default::default()
        };
        let mut d = Decision::evaluated("5H", 7756800, FailureList::new(), 12, 3, notes);
        d.checked_at = DateTime::parse_from_rfc3339("2026-11-22T03:24:41.469474Z").unwrap().with_timezone(&Utc);
        assert_eq!(
            d.to_json(),
            r#"{"miner_hotkey":"5H","interval_id":7756800,"accepted":true,"failures":[],"record_count":12,"sampled_rows":3,"checked_at":"2026-11-22T03:24:41.469474Z","notes":{"record_count":12,"sampled_record_count":3,"global_overlap_pruned_count":0,"cross_miner_overlap_pruned_count":0,"spec_id":"video_v1","category":"nature_landscape_scenery"}}"#
        );
        let f = Decision::load_failure("5H", 1, Failure::DatasetSha256Mismatch, DecisionNotes::default());
        assert!(!f.accepted);
        assert_eq!((f.record_count, f.sampled_rows), (0, 0));
    }

    #[test]
    fn long_failure_lists_are_bounded_with_counts() {
        let many: FailureList = (0..300).map(|i| Failure::ShortCaption { clip_id: format!("c{i}") }).collect();
        let d = Decision::evaluated("5H", 1, many, 300, 0, DecisionNotes::default());
        assert!(!d.accepted);
        assert_eq!(d.failures.len(), crate::model::MAX_DECISION_FAILURES);
        assert_eq!(d.notes.failures_total, Some(300));
        let json = d.to_json();
        assert!(json.contains(r#""failures_total":300,"failures_by_code":{"short_caption":300}"#), "{json}");
        let few: FailureList = [Failure::DatasetSchemaInvalid].into_iter().collect();
        let d = Decision::evaluated("5H", 1, few, 0, 0, DecisionNotes::default());
        assert_eq!((d.notes.failures_total, d.failures.len()), (None, 1));
    }
}
