//! Runs request definitions: fills in piped text, checks the destination, signs with a resolved
//! credential, sends within the limits, and audits every use of a credential before it is sent;
//! and proxy mode, which does the same for a caller's own request, streamed both ways.

mod audit;
mod error;
mod execute;
mod metrics;
mod scrub;
mod sign;

pub use audit::{AuditFailure, AuditGate, AuditSink, AuditWriter};
pub use error::DispatchError;
pub use execute::{
    upload, AnswerBody, AnswerCut, CallResult, DispatchConfig, Dispatcher, ProxyAnswer, ProxyBody,
    ProxyCall, Upload, UploadCut, UploadSender, DEFAULT_PROXY_RESPONSE_BYTES, MAX_HEADER_BYTES,
    MAX_REQUEST_BODY_BYTES, MAX_URL_BYTES,
};
/// The HTTP types of proxy mode's calls and answers (hyper's).
pub use hyper::http;
pub use keyway_model::template::Context;
pub use metrics::{DispatchMetrics, LATENCY_BUCKETS};
