//! End-to-end tests of the HTTP API, each run on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod helpers;

mod aiming;
mod auth_server;
mod bad_input;
mod connections;
mod credentials;
mod destinations;
mod dispatch;
mod hardening;
mod keys;
mod manners;
mod oauth;
mod operations;
mod presets;
mod recorded;
mod tenancy;
mod transfer;
mod upstream;
mod web_services;
