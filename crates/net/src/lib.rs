//! Keyway's outgoing network, shared by the dispatcher and the OAuth client: the destination
//! policy, the resolver that vets every address before a connection is made, the TLS and mTLS
//! clients, and naming why a connection failed. Also the [`TokenSource`] seam through which
//! the dispatcher asks the OAuth client for a token without depending on it.

mod classify;
mod clients;
mod error;
pub mod hyper_client;
mod net;
pub mod policy;
pub mod resolver;
mod token_source;

pub use classify::{classify_body, classify_call, classify_reqwest};
pub use clients::Clients;
pub use error::{destination_message, NetError};
pub use hyper_client::{BodyError, CallBody, CallClient};
pub use net::{Net, NetConfig};
pub use token_source::{TokenError, TokenFuture, TokenSource};
