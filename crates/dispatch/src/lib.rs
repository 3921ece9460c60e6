//! Runs request definitions: fills in piped text, checks the destination, signs with a resolved
//! credential, sends within the limits, and audits every use of a credential before it is sent.

mod audit;
mod error;
mod execute;
mod metrics;
mod sign;

pub use audit::{AuditFailure, AuditSink, AuditWriter};
pub use error::DispatchError;
pub use execute::{
    CallResult, DispatchConfig, Dispatcher, MAX_HEADER_BYTES, MAX_REQUEST_BODY_BYTES, MAX_URL_BYTES,
};
pub use keyway_model::template::Context;
pub use metrics::{DispatchMetrics, LATENCY_BUCKETS};
