//! Executes request definitions: piped text, signing with a resolved credential, limits and
//! the destination policy. Also keeps saved definitions (web services).

mod audit;
mod clients;
mod error;
mod execute;
mod hyper_client;
mod metrics;
mod net;
pub mod policy;
pub mod resolver;
mod sign;
pub mod template;
mod token_source;
mod web_services;

pub use audit::{AuditFailure, AuditSink, AuditWriter};
pub use error::DispatchError;
pub use execute::{
    CallResult, DispatchConfig, Dispatcher, MAX_HEADER_BYTES, MAX_REQUEST_BODY_BYTES, MAX_URL_BYTES,
};
pub use metrics::DispatchMetrics;
pub use net::Net;
pub use template::Context;
pub use token_source::{TokenError, TokenFuture, TokenSource};
pub use web_services::{WebServiceError, WebServiceInput, WebServiceView, WebServices};
