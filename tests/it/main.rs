//! Integration tests, one binary with a module per area (each `tests/*.rs` file would be
//! a separate binary linked against everything).

mod chat_server;
mod pg_server;
mod s3_server;
mod support;

mod api_abuse;
mod api_client;
mod api_server;
mod api_status_page;
mod btcli_flags;
mod api_wire;
mod catalog;
mod chain_cli;
mod chain_contract;
mod chain_doctor;
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
mod mine_self_check;
mod owner_abuse;
mod owner_publish;
mod owner_sync;
mod rules;
mod s3_store;
mod schedule;
mod snapshot;
mod source_check;
mod sources_discover;
mod test_data;
mod validate_restart;
mod validate_service;
mod wallet;
mod wallet_encrypted;
mod weights;
mod weights_landing;
