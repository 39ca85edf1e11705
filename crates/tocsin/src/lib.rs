//! Tocsin: the server (HTTP API and ingest), the command-line client and the benchmark, in one binary.

pub mod automation;
pub mod bench;
pub mod cli;
pub mod config;
pub mod document;
pub mod engine;
pub mod http;
pub mod listener;
pub mod notify;
pub mod server;
pub mod slack;
pub mod sso;
pub mod statuspage;
pub mod tls;
pub mod web;
pub mod wording;
