//! Which provider serves the model: `OPENAI_API_KEY` (with an optional `OPENAI_BASE_URL`
//! for any OpenAI-compatible server) wins, else `GEMINI_API_KEY` with Gemini's
//! OpenAI-compatible endpoint and the protocol's fixed Gemini model.

use std::fmt;

/// Default OpenAI API base.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// Gemini's OpenAI-compatible API base.
pub(crate) const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta/openai";
/// The model used with a Gemini key (protocol §8).
pub(crate) const GEMINI_MODEL: &str = "gemini-3.1-flash-lite-preview";

/// The provider family, for logs and model defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// An OpenAI-compatible chat-completions endpoint.
    OpenAi,
    /// Google Gemini through its OpenAI-compatible endpoint.
    Gemini,
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OpenAi => "openai",
            Self::Gemini => "gemini",
        })
    }
}

/// An endpoint and its key. `Debug` never shows the key.
#[derive(Clone)]
pub struct LlmProvider {
    /// The provider family.
    pub kind: ProviderKind,
    /// API base, without the trailing `/chat/completions`.
    pub(crate) base_url: String,
    api_key: String,
}

impl fmt::Debug for LlmProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmProvider")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

fn non_blank(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

impl LlmProvider {
    /// The provider the settings select, or `None` when no key is set.
    pub fn from_settings(
        openai_key: Option<&str>,
        openai_base_url: Option<&str>,
        gemini_key: Option<&str>,
    ) -> Option<Self> {
        if let Some(key) = non_blank(openai_key) {
            let base = non_blank(openai_base_url).unwrap_or(OPENAI_BASE_URL);
            return Some(Self {
                kind: ProviderKind::OpenAi,
                base_url: base.trim_end_matches('/').into(),
                api_key: key.into(),
            });
        }
        non_blank(gemini_key).map(|key| Self {
            kind: ProviderKind::Gemini,
            base_url: GEMINI_BASE_URL.into(),
            api_key: key.into(),
        })
    }

    /// The model to use: the configured one for OpenAI-compatible servers (or
    /// `openai_default`), always the protocol's model for Gemini.
    pub fn model(&self, configured: Option<&str>, openai_default: &str) -> String {
        match self.kind {
            ProviderKind::OpenAi => non_blank(configured).unwrap_or(openai_default).to_string(),
            ProviderKind::Gemini => GEMINI_MODEL.to_string(),
        }
    }

    /// The chat-completions URL.
    pub(crate) fn chat_url(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }

    pub(crate) fn api_key(&self) -> &str {
        &self.api_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_wins_then_gemini_then_nothing() {
        let p = LlmProvider::from_settings(Some("sk-1"), None, Some("g")).expect("openai");
        assert_eq!(
            (p.kind, p.chat_url().as_str()),
            (ProviderKind::OpenAi, "https://api.openai.com/v1/chat/completions")
        );
        assert_eq!(p.model(None, "gpt-4o"), "gpt-4o");
        assert_eq!(p.model(Some("m2"), "gpt-4o"), "m2");
        let p = LlmProvider::from_settings(Some("sk"), Some("http://127.0.0.1:9/v1/"), None).expect("base");
        assert_eq!(p.chat_url(), "http://127.0.0.1:9/v1/chat/completions");
        let g = LlmProvider::from_settings(Some("  "), None, Some("g")).expect("gemini");
        assert_eq!(g.kind, ProviderKind::Gemini);
        assert_eq!(g.model(Some("gpt-4o"), "gpt-4o"), GEMINI_MODEL);
        assert!(g.chat_url().starts_with(GEMINI_BASE_URL));
        assert!(LlmProvider::from_settings(None, Some("http://x"), Some("")).is_none());
    }

    #[test]
    fn debug_redacts_the_key() {
        let p = LlmProvider::from_settings(Some("sk-secret-123"), None, None).expect("openai");
        assert!(!format!("{p:?}").contains("sk-secret-123"));
    }
}
