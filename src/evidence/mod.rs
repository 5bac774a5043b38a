//! The evidence API (protocol §12): the optional central service where validators post
//! their signed decisions and invalid hotkeys, and read the invalid-hotkey list and
//! blacklist that zero miners at weight time (§11). This module is the client side: the
//! request signing and bodies both sides share, the HTTP client ([`EvidenceClient`]) and
//! the [`EvidenceApi`] trait the validator loop reports through. The server (`nexis api`)
//! is [`crate::evidence_server`], which builds on this module.
//!
//! Reporting never affects validation: the GET readers fall back to an empty list (with a
//! warning) on any failure, and POST failures come back as [`EvidenceError`] for the caller
//! to log. POST requests are signed (`X-Validator-Hotkey`, `X-Signature`, `X-Timestamp`,
//! `X-Nonce` over [`auth_message`]); GET requests are not, as the protocol marks only the
//! POST endpoints "(signed)" and the existing service serves the GETs without
//! authentication.

mod api;
mod auth;
mod client;
mod payload;

pub use api::EvidenceApi;
pub use client::{DEFAULT_TIMEOUT, EvidenceClient, EvidenceError, EvidenceSetting};

pub(crate) use auth::{HEADER_HOTKEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
pub use auth::{SignedHeaders, auth_message, body_sha256, unix_now};
pub use payload::{canonical_json, interval_payload};
pub(crate) use payload::{invalid_hotkeys_payload, parse_hotkey_list};

/// `POST`: this validator's decisions for one interval (signed).
pub(crate) const PATH_RESULTS: &str = "/v1/validation-results";
/// `GET ?interval_id=I`: hotkeys listed as invalid; `POST`: report invalid hotkeys (signed).
pub(crate) const PATH_INVALID_HOTKEYS: &str = "/v1/invalid-hotkeys";
/// `GET`: blacklisted hotkeys.
pub(crate) const PATH_BLACKLIST: &str = "/v1/get_blacklist";
