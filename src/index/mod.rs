//! The global overlap index (protocol §10): already published clips per canonical source
//! key, kept in sled, and the `record_info.json` snapshot codec it is refreshed from.

pub mod overlap;
