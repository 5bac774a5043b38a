//! Request and response bodies of the evidence API (protocol §12): the canonical JSON
//! the POST bodies are written in, and lenient readers for the GET replies.

use serde_json::{Value, json};

use crate::model::Decision;

/// Canonical body bytes: sorted keys, separators `,` and `:`, non-ASCII escaped as
/// `\uXXXX` (Python's `json.dumps(v, sort_keys=True, separators=(",", ":"))`).
pub fn canonical_json(value: &Value) -> Vec<u8> {
    crate::pyjson::to_compact(value)
}

/// One decision as the API takes it; the pruned counts come from the decision's notes
/// (0 when absent) and failures are their full string forms.
pub(crate) fn decision_value(decision: &Decision) -> Value {
    json!({
        "miner_hotkey": decision.miner_hotkey,
        "accepted": decision.accepted,
        "failures": decision.failures.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "record_count": decision.record_count,
        "global_overlap_pruned_count": decision.notes.global_overlap_pruned_count.unwrap_or(0),
        "cross_miner_overlap_pruned_count": decision.notes.cross_miner_overlap_pruned_count.unwrap_or(0),
    })
}

/// The body of `POST /v1/validation-results`: `{"decisions": [...], "interval_id": I}`,
/// decisions in the given order.
pub fn interval_payload(interval_id: u64, decisions: &[Decision]) -> Vec<u8> {
    let decisions: Vec<Value> = decisions.iter().map(decision_value).collect();
    canonical_json(&json!({ "interval_id": interval_id, "decisions": decisions }))
}

/// The body of `POST /v1/invalid-hotkeys`: `{"interval_id": I, "invalid_hotkeys": [...]}`
/// with the hotkeys trimmed, blanks dropped, de-duplicated and sorted (as the existing
/// implementation sends them).
pub(crate) fn invalid_hotkeys_payload(interval_id: u64, hotkeys: &[String]) -> Vec<u8> {
    let set: std::collections::BTreeSet<&str> = hotkeys.iter().map(|h| h.trim()).filter(|h| !h.is_empty()).collect();
    canonical_json(&json!({ "interval_id": interval_id, "invalid_hotkeys": set }))
}

/// The hotkey list under `field` of a GET reply: string items trimmed, blanks and
/// duplicates dropped, order kept. `None` when the reply is not JSON, not an object, or
/// `field` is not a list.
pub(crate) fn parse_hotkey_list(body: &[u8], field: &str) -> Option<Vec<String>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let items = value.as_object()?.get(field)?.as_array()?;
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for hotkey in items.iter().filter_map(Value::as_str).map(str::trim) {
        if !hotkey.is_empty() && !out.iter().any(|h| h == hotkey) {
            out.push(hotkey.to_string());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_hotkeys_body_is_sorted_and_deduplicated() {
        let body = invalid_hotkeys_payload(7, &[" b".into(), "a".into(), "".into(), "b".into()]);
        assert_eq!(body, br#"{"interval_id":7,"invalid_hotkeys":["a","b"]}"#);
    }

    #[test]
    fn hotkey_lists_are_read_leniently() {
        let got =
            parse_hotkey_list(br#"{"invalid_hotkeys": [" a ", "b", "a", 3, null, ""], "x": 1}"#, "invalid_hotkeys");
        assert_eq!(got, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(parse_hotkey_list(br#"{"invalid_hotkeys": "a"}"#, "invalid_hotkeys"), None);
        assert_eq!(parse_hotkey_list(br#"["a"]"#, "invalid_hotkeys"), None);
        assert_eq!(parse_hotkey_list(b"<html>", "invalid_hotkeys"), None);
    }
}
