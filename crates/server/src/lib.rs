//! Keyway's HTTP API on actix-web. The only crate that knows actix-web: handlers parse requests,
//! call `keyway-credentials`, and map typed errors to the contract's JSON error shape.

pub mod auth;
mod body;
mod console;
pub mod error;
mod error_map;
pub mod metrics;
pub mod openapi;
mod request_log;
mod routes;
pub mod startup;

pub use startup::{run, AppState};
