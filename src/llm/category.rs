//! The nature category check (protocol §8): the model labels the three middle frames of a
//! sampled clip with a winner among seven classes and a 0–1 score for each of the first
//! six; a row is accepted iff nature wins at least 2 of 3 frames, the mean nature score is
//! at least 0.72, and it beats the largest mean of the other five by at least 0.12.

use crate::model::FailureCode;
use serde_json::Value;

use std::sync::LazyLock;

use super::client::{AskFailure, ChatClient, ChatRequest, ReplySchema};

/// Classes a frame can be labelled with; the first six carry scores.
pub(crate) const LABELS: [&str; 7] = ["nature", "people", "animal", "vehicle", "urban", "indoor", "other"];
/// Frames the model labels.
pub(crate) const CATEGORY_FRAMES: usize = 3;
/// Least mean nature score.
pub(crate) const MIN_MEAN_NATURE: f64 = 0.72;
/// Least lead of the mean nature score over the strongest other class.
pub(crate) const MIN_MARGIN: f64 = 0.12;
/// Tolerance for the binary rounding of means at the thresholds.
const EPS: f64 = 1e-9;

/// One frame's label and scores (`scores[i]` belongs to `LABELS[i]`, clamped to 0–1).
#[derive(Debug, Clone, PartialEq)]
pub struct FrameLabel {
    pub(crate) winner: &'static str,
    pub(crate) scores: [f64; 6],
}

/// The numbers behind a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryScore {
    pub(crate) nature_wins: usize,
    /// Mean `nature` score over the frames (0–1).
    pub avg_nature: f64,
    /// Largest mean score among the other five classes.
    pub rival: f64,
    /// `avg_nature` minus `rival`; accepted from 0.12.
    pub margin: f64,
}

impl CategoryScore {
    /// Scores three labelled frames.
    pub fn of(frames: &[FrameLabel]) -> Self {
        let n = frames.len().max(1) as f64;
        let mean = |i: usize| frames.iter().map(|f| f.scores[i]).sum::<f64>() / n;
        let avg_nature = mean(0);
        let rival = (1..6).map(mean).fold(0.0, f64::max);
        Self {
            nature_wins: frames.iter().filter(|f| f.winner == "nature").count(),
            avg_nature,
            rival,
            margin: avg_nature - rival,
        }
    }

    /// The reasons the row is rejected; empty means accepted.
    pub(crate) fn reject_reasons(&self) -> Vec<&'static str> {
        let mut reasons = Vec::new();
        if self.nature_wins < 2 {
            reasons.push("nature_wins_under_2_of_3");
        }
        if self.avg_nature + EPS < MIN_MEAN_NATURE {
            reasons.push("mean_nature_under_0.72");
        }
        if self.margin + EPS < MIN_MARGIN {
            reasons.push("margin_under_0.12");
        }
        reasons
    }

    /// Whether the clip passes the category check (no reject reason).
    pub fn accepted(&self) -> bool {
        self.reject_reasons().is_empty()
    }

    /// The reasons one image (a source's thumbnail) is off-category: the validators'
    /// thresholds applied to it alone (nature wins, score at least 0.72, lead at least
    /// 0.12); empty means on-category.
    pub(crate) fn single_image_reject_reasons(&self) -> Vec<&'static str> {
        let mut reasons = Vec::new();
        if self.nature_wins < 1 {
            reasons.push("nature_does_not_win");
        }
        if self.avg_nature + EPS < MIN_MEAN_NATURE {
            reasons.push("nature_under_0.72");
        }
        if self.margin + EPS < MIN_MARGIN {
            reasons.push("margin_under_0.12");
        }
        reasons
    }
}

fn score(frame: &serde_json::Map<String, Value>, label: &str) -> Result<f64, String> {
    let v = frame.get(&format!("{label}_score")).ok_or_else(|| format!("no {label}_score"))?;
    let x = v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
    match x {
        Some(x) if x.is_finite() => Ok(x.clamp(0.0, 1.0)),
        _ => Err(format!("{label}_score is not a number")),
    }
}

fn frame_label(value: &Value) -> Result<FrameLabel, String> {
    let frame = value.as_object().ok_or("a frame is not an object")?;
    let winner = frame.get("winner").and_then(Value::as_str).ok_or("no winner")?.trim().to_ascii_lowercase();
    let winner = LABELS.iter().copied().find(|l| *l == winner).ok_or_else(|| format!("unknown winner {winner:?}"))?;
    let mut scores = [0.0; 6];
    for (slot, label) in scores.iter_mut().zip(LABELS) {
        *slot = score(frame, label)?;
    }
    Ok(FrameLabel { winner, scores })
}

fn reply_object(reply: &str) -> Option<Value> {
    let text = reply.trim();
    let text = text
        .strip_prefix("```")
        .map(|t| t.trim_start_matches("json").trim_start_matches("JSON"))
        .and_then(|t| t.trim_end().strip_suffix("```"))
        .unwrap_or(text)
        .trim();
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Some(v);
    }
    let (start, end) = (text.find('{')?, text.rfind('}')?);
    serde_json::from_str(text.get(start..=end)?).ok()
}

/// The three labelled frames of a reply, or why the reply is unusable.
pub fn parse_category_reply(reply: &str) -> Result<Vec<FrameLabel>, String> {
    parse_labels(reply, CATEGORY_FRAMES)
}

/// The `expected` labelled frames of a reply, or why the reply is unusable.
fn parse_labels(reply: &str, expected: usize) -> Result<Vec<FrameLabel>, String> {
    let value = reply_object(reply).ok_or("no JSON object in the reply")?;
    let frames = value.get("frames").and_then(Value::as_array).or_else(|| value.as_array()).ok_or("no frames array")?;
    if frames.len() != expected {
        return Err(format!("{} frames labelled, expected {expected}", frames.len()));
    }
    frames.iter().map(frame_label).collect()
}

/// Instructions of the category judge.
pub(crate) const CATEGORY_PROMPT: &str = "You classify video frames. For each image, in order, choose the single best \
    label among nature, people, animal, vehicle, urban, indoor, other (nature means natural landscapes and scenery: \
    mountains, forests, water, sky, fields, with no people, vehicles or buildings as the subject) and give a score \
    from 0 to 1 for how strongly each of nature, people, animal, vehicle, urban and indoor is present. Reply with \
    exactly one JSON object and nothing else: {\"frames\": [{\"winner\": \"nature\", \"nature_score\": 0.0, \
    \"people_score\": 0.0, \"animal_score\": 0.0, \"vehicle_score\": 0.0, \"urban_score\": 0.0, \
    \"indoor_score\": 0.0}, ...] } with one entry per image.";

/// What the category check concluded for one row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CategoryVerdict {
    Accept(CategoryScore),
    Reject(CategoryScore),
    /// The model answered, twice, without usable labels: the row fails
    /// `category_strict_response_invalid` unless the interval's model is broken.
    Unusable(String),
    /// The check could not run (never the miner's fault).
    Unavailable(String),
}

/// The structured-output schema of the category reply.
static FRAMES_SCHEMA: LazyLock<ReplySchema> = LazyLock::new(|| {
    let mut properties = serde_json::Map::new();
    properties.insert("winner".into(), serde_json::json!({"type": "string", "enum": LABELS}));
    let mut required = vec!["winner".to_string()];
    for label in &LABELS[..6] {
        properties.insert(format!("{label}_score"), serde_json::json!({"type": "number"}));
        required.push(format!("{label}_score"));
    }
    let frame = serde_json::json!({
        "type": "object", "properties": properties, "required": required, "additionalProperties": false,
    });
    ReplySchema {
        name: "frame_labels",
        schema: serde_json::json!({
            "type": "object",
            "properties": {"frames": {"type": "array", "items": frame}},
            "required": ["frames"],
            "additionalProperties": false,
        }),
    }
});

/// Room for three labelled frames (and any reasoning before them).
const CATEGORY_MAX_TOKENS: u32 = 1024;

/// Labels the three middle `frames`; an unusable reply is asked once more.
pub(crate) async fn judge_category(client: &ChatClient, frames: &[Vec<u8>]) -> CategoryVerdict {
    let text = format!("Label these {} frames.", frames.len());
    let request = ChatRequest {
        system: CATEGORY_PROMPT,
        text: &text,
        images: frames,
        max_tokens: CATEGORY_MAX_TOKENS,
        temperature: 0.0,
        schema: Some(&FRAMES_SCHEMA),
    };
    match client.ask_parsed(&request, FailureCode::CategoryStrictResponseInvalid, parse_category_reply).await {
        Ok(labels) => {
            let score = CategoryScore::of(&labels);
            if score.accepted() { CategoryVerdict::Accept(score) } else { CategoryVerdict::Reject(score) }
        }
        Err(AskFailure::Unusable(reason)) => CategoryVerdict::Unusable(reason),
        Err(AskFailure::Unavailable(reason)) => CategoryVerdict::Unavailable(reason),
    }
}

/// What the model made of one image (a source's thumbnail) with the validators' category
/// prompt: its labels scored, or why there are none.
pub(crate) enum ImageVerdict {
    /// The image's label and scores ([`CategoryScore::single_image_reject_reasons`] decides).
    Scored(CategoryScore),
    /// No usable answer (twice), or no answer at all.
    Failed(String),
}

/// Labels one image with the validators' category prompt; an unusable reply is asked once more.
pub(crate) async fn judge_image(client: &ChatClient, image: &[u8]) -> ImageVerdict {
    let images = [image.to_vec()];
    let request = ChatRequest {
        system: CATEGORY_PROMPT,
        text: "Label this frame.",
        images: &images,
        max_tokens: CATEGORY_MAX_TOKENS,
        temperature: 0.0,
        schema: Some(&FRAMES_SCHEMA),
    };
    match client.ask_parsed(&request, FailureCode::CategoryStrictResponseInvalid, |r| parse_labels(r, 1)).await {
        Ok(labels) => ImageVerdict::Scored(CategoryScore::of(&labels)),
        Err(AskFailure::Unusable(reason) | AskFailure::Unavailable(reason)) => ImageVerdict::Failed(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_and_embedded_replies_parse() {
        let frame = r#"{"winner":"Nature","nature_score":0.9,"people_score":0,"animal_score":0,"vehicle_score":0,"urban_score":0,"indoor_score":"0.1"}"#;
        let body = format!("{{\"frames\":[{frame},{frame},{frame}]}}");
        let fenced = format!("```json\n{body}\n```");
        let chatty = format!("Here you go: {body} Thanks");
        for reply in [body.as_str(), fenced.as_str(), chatty.as_str()] {
            let labels = parse_category_reply(reply).expect(reply);
            assert_eq!(labels.len(), 3);
            assert_eq!(labels[0].winner, "nature");
            assert_eq!(labels[0].scores[5], 0.1);
        }
        assert!(parse_category_reply("I cannot see any images.").is_err());
        assert!(parse_labels(&body, 1).is_err(), "three frames where one was asked");
        let missing = body.replace(",\"indoor_score\":\"0.1\"", "");
        assert!(parse_category_reply(&missing).expect_err("missing score").contains("indoor_score"));
    }
}

#[cfg(test)]
mod single_image_tests {
    use super::*;

    fn label(winner: &'static str, nature: f64, urban: f64) -> FrameLabel {
        FrameLabel { winner, scores: [nature, 0.0, 0.0, 0.0, urban, 0.0] }
    }

    #[test]
    fn one_image_uses_the_validators_thresholds() {
        assert!(CategoryScore::of(&[label("nature", 0.9, 0.1)]).single_image_reject_reasons().is_empty());
        let city = CategoryScore::of(&[label("urban", 0.2, 0.9)]).single_image_reject_reasons();
        assert_eq!(city, ["nature_does_not_win", "nature_under_0.72", "margin_under_0.12"]);
        let close = CategoryScore::of(&[label("nature", 0.8, 0.75)]).single_image_reject_reasons();
        assert_eq!(close, ["margin_under_0.12"]);
    }
}
