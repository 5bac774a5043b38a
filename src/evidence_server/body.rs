//! The POST bodies and their validation (422 on anything out of shape): a rejected
//! decision needs failures, counts are non-negative integers, and sizes are capped.

use serde::Deserialize;

use super::store::DecisionRow;

/// Most decisions in one post.
pub(crate) const MAX_DECISIONS: usize = 4096;
/// Most hotkeys in one invalid-hotkeys post.
pub(crate) const MAX_INVALID: usize = 4096;
/// Longest hotkey string.
const MAX_HOTKEY_LEN: usize = 128;
/// Most failure codes in one decision, and the longest one.
const MAX_FAILURES: usize = 64;
const MAX_FAILURE_LEN: usize = 1024;

#[derive(Debug, Deserialize)]
struct DecisionIn {
    miner_hotkey: String,
    accepted: bool,
    #[serde(default)]
    failures: Vec<String>,
    #[serde(default)]
    record_count: u64,
    #[serde(default)]
    global_overlap_pruned_count: u64,
    #[serde(default)]
    cross_miner_overlap_pruned_count: u64,
}

#[derive(Debug, Deserialize)]
struct ResultsIn {
    interval_id: u64,
    decisions: Vec<DecisionIn>,
}

#[derive(Debug, Deserialize)]
struct InvalidIn {
    interval_id: u64,
    invalid_hotkeys: Vec<String>,
}

fn hotkey(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() || t.len() > MAX_HOTKEY_LEN {
        return Err(format!("hotkey must be 1..={MAX_HOTKEY_LEN} characters"));
    }
    Ok(t.to_string())
}

fn interval(id: u64) -> Result<u64, String> {
    if id > i64::MAX as u64 {
        return Err("interval_id is out of range".into());
    }
    Ok(id)
}

/// A validated `POST /v1/validation-results` body: the interval and its decisions.
pub(crate) fn parse_results(body: &[u8]) -> Result<(u64, Vec<DecisionRow>), String> {
    let parsed: ResultsIn = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let interval_id = interval(parsed.interval_id)?;
    if parsed.decisions.is_empty() || parsed.decisions.len() > MAX_DECISIONS {
        return Err(format!("decisions must hold 1..={MAX_DECISIONS} items"));
    }
    let mut out = Vec::with_capacity(parsed.decisions.len());
    for (i, d) in parsed.decisions.into_iter().enumerate() {
        let at = |e: String| format!("decisions[{i}]: {e}");
        let miner_hotkey = hotkey(&d.miner_hotkey).map_err(at)?;
        if !d.accepted && d.failures.is_empty() {
            return Err(at("a rejected decision needs at least one failure".into()));
        }
        if d.failures.len() > MAX_FAILURES || d.failures.iter().any(|f| f.len() > MAX_FAILURE_LEN) {
            return Err(at(format!("at most {MAX_FAILURES} failures of {MAX_FAILURE_LEN} characters")));
        }
        let counts = [d.record_count, d.global_overlap_pruned_count, d.cross_miner_overlap_pruned_count];
        if counts.iter().any(|c| *c > i64::MAX as u64) {
            return Err(at("count out of range".into()));
        }
        out.push(DecisionRow {
            miner_hotkey,
            accepted: d.accepted,
            failures: d.failures,
            record_count: d.record_count,
            global_overlap_pruned_count: d.global_overlap_pruned_count,
            cross_miner_overlap_pruned_count: d.cross_miner_overlap_pruned_count,
        });
    }
    Ok((interval_id, out))
}

/// A validated `POST /v1/invalid-hotkeys` body: the interval and the distinct hotkeys.
pub(crate) fn parse_invalid(body: &[u8]) -> Result<(u64, Vec<String>), String> {
    let parsed: InvalidIn = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let interval_id = interval(parsed.interval_id)?;
    if parsed.invalid_hotkeys.len() > MAX_INVALID {
        return Err(format!("invalid_hotkeys must hold at most {MAX_INVALID} items"));
    }
    let mut set = std::collections::BTreeSet::new();
    for h in &parsed.invalid_hotkeys {
        set.insert(hotkey(h)?);
    }
    Ok((interval_id, set.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_rules() {
        let ok = br#"{"interval_id":5,"decisions":[{"miner_hotkey":"m","accepted":false,"failures":["x"]}]}"#;
        let (i, rows) = parse_results(ok).expect("ok");
        assert_eq!((i, rows[0].record_count), (5, 0));
        for bad in [
            &br#"{"interval_id":5,"decisions":[{"miner_hotkey":"m","accepted":false,"failures":[]}]}"#[..],
            br#"{"interval_id":5,"decisions":[{"miner_hotkey":"m","accepted":true,"record_count":-1}]}"#,
            br#"{"interval_id":5,"decisions":[]}"#,
            br#"{"interval_id":-5,"decisions":[{"miner_hotkey":"m","accepted":true}]}"#,
            br#"{"interval_id":5,"decisions":[{"miner_hotkey":" ","accepted":true}]}"#,
            br#"{"decisions":[{"miner_hotkey":"m","accepted":true}]}"#,
            b"not json",
        ] {
            assert!(parse_results(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn invalid_rules() {
        let (i, h) = parse_invalid(br#"{"interval_id":3,"invalid_hotkeys":["b"," a","b"]}"#).expect("ok");
        assert_eq!((i, h), (3, vec!["a".to_string(), "b".to_string()]));
        assert!(parse_invalid(br#"{"interval_id":3,"invalid_hotkeys":[""]}"#).is_err());
        assert!(parse_invalid(br#"{"interval_id":3}"#).is_err());
    }
}
