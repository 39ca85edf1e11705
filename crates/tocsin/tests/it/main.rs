//! Integration tests: each starts a real server on port 0 with a fresh data directory and talks HTTP to it.
//! All of them live in this one binary so they link once.

mod alertmanager;
mod api;
mod automation;
mod browser;
mod cli;
mod cli_noise;
mod cli_oncall;
mod cli_paging;
mod crash;
mod engine;
mod fuzz_config;
// The fuzzing machinery of the domain's fuzz targets; this binary uses part of it.
#[allow(dead_code)]
#[path = "../../../tocsin-domain/tests/fuzzing/mod.rs"]
mod fuzzing;
mod instances;
mod noise;
mod oncall;
mod operations;
mod paging;
mod readme;
mod roles;
mod senders;
mod sev0;
mod slack;
mod sso;
mod status_pages;
mod support;
mod tls;
mod updates;
mod web;
mod web_pages;
