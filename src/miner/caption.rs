//! Captions for clips: a vision-language model sees frames of the clip and writes one
//! concrete sentence. A caption that the validator would reject (under 20 words, a URL,
//! one of the two injection words) is asked for once more and otherwise the row is
//! dropped, so a bad caption never poisons the package.

use async_trait::async_trait;

use crate::llm::semantic::has_injection_keyword;
use crate::llm::{ChatClient, ChatRequest};
use crate::protocol::MIN_CAPTION_WORDS;

/// Caption failures on the provider's side.
#[derive(Debug, thiserror::Error)]
#[error("captioning failed: {0}")]
pub struct CaptionError(pub String);

/// Something that writes a caption from JPEG frames.
#[async_trait]
pub trait Captioner: Send + Sync {
    /// One caption for a clip from its JPEG frames.
    async fn caption(&self, frames: &[Vec<u8>]) -> Result<String, CaptionError>;
}

/// The instruction given to the model.
pub(crate) const CAPTION_PROMPT: &str = "These are frames of one 5-second video clip, in order. Describe what the clip shows \
    in one concrete, factual English sentence of 25 to 45 words: the setting, the main subjects, their motion and the \
    camera movement. Do not mention frames, images or a video; no lists, no links, no quotes.";

/// Captions from a vision-language model over the chat-completions API.
#[derive(Debug, Clone)]
pub struct LlmCaptioner {
    /// The chat-completions client that writes the captions.
    pub client: ChatClient,
}

#[async_trait]
impl Captioner for LlmCaptioner {
    async fn caption(&self, frames: &[Vec<u8>]) -> Result<String, CaptionError> {
        let request = ChatRequest {
            system: CAPTION_PROMPT,
            text: "Write the caption for this clip.",
            images: frames,
            max_tokens: 200,
            temperature: 0.2,
            schema: None,
        };
        self.client.complete(&request).await.map_err(|e| CaptionError(e.to_string()))
    }
}

/// Why a caption would fail the validator's rules, if it would.
pub(crate) fn caption_problem(caption: &str) -> Option<&'static str> {
    let text = caption.trim().to_lowercase();
    if text.is_empty() {
        return Some("empty");
    }
    if text.split_whitespace().count() < MIN_CAPTION_WORDS {
        return Some("under 20 words");
    }
    if text.contains("http://") || text.contains("https://") {
        return Some("contains a URL");
    }
    if has_injection_keyword(&text) {
        return Some("contains an injection word");
    }
    None
}

/// A usable caption for `frames`, asking twice at most; `Ok(None)` drops the row.
pub(crate) async fn caption_clip(
    captioner: &dyn Captioner,
    frames: &[Vec<u8>],
) -> Result<Option<String>, CaptionError> {
    for attempt in 1..=2 {
        let text = captioner.caption(frames).await?;
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        match caption_problem(&text) {
            None => return Ok(Some(text)),
            Some(problem) => tracing::debug!(attempt, problem, "caption would fail the validator"),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_the_validator() {
        let ok = "a wide river bends slowly through a green valley while low clouds drift over pine covered hills \
                  and the camera glides forward above the water";
        assert_eq!(caption_problem(ok), None);
        assert_eq!(caption_problem("  "), Some("empty"));
        assert_eq!(caption_problem("a short caption"), Some("under 20 words"));
        assert_eq!(caption_problem(&format!("{ok} see https://x.y")), Some("contains a URL"));
        assert_eq!(caption_problem(&format!("{ok} a perfect Match.")), Some("contains an injection word"));
        assert_eq!(caption_problem(&format!("{ok} truest matches")), None);
    }
}
