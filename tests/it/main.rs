//! Integration tests, one binary with a module per area (each `tests/*.rs` file would be
//! a separate binary linked against everything).

mod chat_server;
mod pg_server;
mod s3_server;
mod support;

mod api_client;
mod api_server;
mod api_status_page;
mod catalog;
mod chain_cli;
mod chain_contract;
mod chain_encoding;
mod cli;
mod commit_reveal;
mod compat;
mod content_checks;
mod dashboard;
mod demo;
mod env_example;
mod golden;
mod hostile;
mod hostile_service;
mod llm_client;
mod mine;
mod near_duplicate;
mod owner_publish;
mod owner_sync;
mod rules;
mod s3_store;
mod snapshot;
mod source_check;
mod validate_restart;
mod validate_service;
mod wallet;
mod weights;
