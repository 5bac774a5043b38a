//! Integration tests, one binary with a module per area (each `tests/*.rs` file would be
//! a separate binary linked against everything).

mod chat_server;
mod s3_server;
mod support;

mod api_client;
mod chain_cli;
mod chain_contract;
mod chain_encoding;
mod cli;
mod compat;
mod content_checks;
mod dashboard;
mod demo;
mod env_example;
mod golden;
mod hostile;
mod llm_client;
mod mine;
mod owner_publish;
mod owner_sync;
mod rules;
mod s3_store;
mod snapshot;
mod validate_restart;
mod validate_service;
mod wallet;
mod weights;
