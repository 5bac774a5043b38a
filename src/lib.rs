//! `nexis`: validator, miner and owner tooling for the Nexisgen video-clip dataset subnet.
//!
//! Every 50 blocks (an interval) miners publish a package of 5-second 1280x720 clips
//! (`dataset.parquet`, `manifest.json`, clips and frames) in their own bucket; validators
//! discover the packages, verify them in layers, prune clips already published, score the
//! miners and set weights; the subnet owner copies accepted clips into its dataset bucket.
//!
//! The modules follow the protocol's domains, lower layers first: [`protocol`] and
//! [`model`] (plain data), [`spec`] and [`dataset`] (the parquet edge), [`storage`],
//! [`chain`], [`media`] and [`llm`] (the outside world, behind traits), [`index`], the
//! shared service plumbing [`shutdown`] and [`telemetry`], then the capabilities
//! [`validator`], [`miner`], [`owner`] and [`catalog`], the evidence API client
//! [`evidence`] and its server [`evidence_server`], and [`demo`].
//!
//! The data flow of one interval: the validator service polls the chain; for each closed
//! interval it builds one [`validator::IntervalContext`], evaluates every
//! selected miner's package with the same [`validator::PackageValidator`] `nexis check`
//! uses, prunes overlaps, records the interval atomically and, once per weight epoch,
//! sets weights. A validator is built in one place, [`validator::ValidatorConfig`].
//! `docs/architecture.md` has the module map and the path of one interval in full.

pub mod bench;
pub mod bundle;
pub mod catalog;
pub mod chain;
pub mod config;
pub mod dataset;
pub mod demo;
pub mod evidence;
pub mod evidence_server;
pub mod index;
pub mod llm;
pub mod media;
pub mod miner;
pub mod model;
pub mod owner;
pub mod protocol;
pub mod pyjson;
pub mod shutdown;
pub mod spec;
pub mod storage;
pub mod telemetry;
pub mod validator;
