//! End-to-end tests of the HTTP API, each run on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod helpers;

// The shared harness, under the names the cases use.
use keyway_testkit::{auth_server, upstream};

mod aiming;
mod audit_export;
mod bad_input;
mod connections;
mod console;
mod console_mtls;
mod console_oauth;
mod console_services;
mod credentials;
mod destinations;
mod dispatch;
mod hardening;
mod keys;
mod limits;
mod manners;
mod oauth;
mod openapi;
mod operations;
mod presets;
mod proxy;
mod recorded;
mod tenancy;
mod transfer;
mod web_services;
