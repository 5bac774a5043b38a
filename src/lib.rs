//! `nexis`: validator, miner and owner tooling for the Nexisgen video-clip dataset subnet.
//!
//! The modules follow the protocol's domains; see `docs/` and the architecture notes.

pub mod api;
pub mod bench;
pub mod catalog;
pub mod chain;
pub mod config;
pub mod dataset;
pub mod demo;
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
