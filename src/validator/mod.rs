//! The validator: package stages, the pipeline that runs them for one miner, and
//! deterministic sampling.

mod pipeline;
mod request;
pub mod sampling;
pub mod stages;

pub use pipeline::{PackageOutcome, PackageValidator};
pub use request::{PackageLimits, PackageRequest};
pub use stages::assets::EnvironmentError;
