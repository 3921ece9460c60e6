//! Names why a call got no answer, from what is in the error's cause chain. The clients' own
//! text is never used: it contains the URL, which may carry an API key.

use crate::resolver::VetError;
use crate::NetError;

/// A failed call through the hyper client of dispatched calls.
pub fn classify_call(err: hyper_util::client::legacy::Error) -> NetError {
    classify_vet(&err)
        .or_else(|| classify_io(&err))
        .unwrap_or_else(unanswered)
}

/// A failed call through reqwest (the OAuth client's token calls).
pub fn classify_reqwest(err: reqwest::Error) -> NetError {
    if err.is_timeout() {
        return NetError::Timeout;
    }
    if let Some(known) = classify_vet(&err).or_else(|| classify_io(&err)) {
        return known;
    }
    if err.is_body() || err.is_decode() {
        return cut_off();
    }
    unanswered()
}

/// A failure while reading an answer's body.
pub fn classify_body(err: &(dyn std::error::Error + 'static)) -> NetError {
    classify_io(err).unwrap_or_else(cut_off)
}

/// A TLS or I/O failure anywhere in `err`'s chain, if there is one.
fn classify_io(err: &(dyn std::error::Error + 'static)) -> Option<NetError> {
    if let Some(tls) = find::<rustls::Error>(err) {
        return Some(NetError::Unreachable(format!(
            "TLS handshake failed: {tls}"
        )));
    }
    let io = find::<std::io::Error>(err)?;
    Some(match io.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            NetError::Unreachable("the connection was refused".into())
        }
        std::io::ErrorKind::ConnectionReset => {
            NetError::Unreachable("the connection was reset".into())
        }
        std::io::ErrorKind::TimedOut => NetError::Timeout,
        kind => NetError::Unreachable(format!("the connection failed ({kind})")),
    })
}

/// The answer stopped before its end or was not valid HTTP.
fn cut_off() -> NetError {
    NetError::Unreachable("the response was cut off or malformed".into())
}

fn unanswered() -> NetError {
    NetError::Unreachable("the connection failed or the response was not valid HTTP".into())
}

fn classify_vet(err: &(dyn std::error::Error + 'static)) -> Option<NetError> {
    find::<VetError>(err).map(NetError::from)
}

/// The first `T` in `err`'s cause chain, also looking inside `io::Error`s (whose `source`
/// skips the error they wrap).
fn find<'e, T: std::error::Error + 'static>(
    err: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            if let Some(found) = find::<T>(inner) {
                return Some(found);
            }
        }
        current = e.source();
    }
    None
}
