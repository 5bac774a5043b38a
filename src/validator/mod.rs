//! The validator: package stages and the pipeline that runs them for one miner,
//! deterministic sampling, and the interval service around them (discovery, pruning,
//! state, scheduling, scoring).

pub mod budget;
pub mod config;
pub mod discover;
pub mod interval;
pub mod metrics;
mod pipeline;
pub mod prune;
mod request;
pub mod sampling;
pub mod service;
pub mod source_auth;
pub mod source_fetch;
pub mod stages;
pub mod state;
pub mod weights;

pub use pipeline::{PackageOutcome, PackageValidator};
pub use request::{IntervalTerms, PackageLimits, PackageRequest};
pub use stages::assets::EnvironmentError;
