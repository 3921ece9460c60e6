//! Proxy mode's bodies, streamed both ways: the caller's upload on its way upstream (bounded,
//! back-pressured through a small channel) and the upstream's answer on its way back (capped
//! and under the call's deadline), plus which headers cross in each direction.

use crate::scrub::StreamMask;
use bytes::Bytes;
use futures_util::Stream;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, CONNECTION};
use keyway_net::BodyError;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::sync::mpsc;
use tokio::time::Sleep;

/// How many chunks may wait between the caller's connection and the upstream's: enough to
/// keep both busy, few enough that a slow upstream slows the caller instead of filling memory.
const CHANNEL_CHUNKS: usize = 4;

/// A caller's request body in proxy mode.
#[derive(Debug)]
pub enum ProxyBody {
    Empty,
    /// Read whole (small): it can be sent again after an OAuth refresh.
    Buffered(Bytes),
    /// Streamed as it arrives: sent once.
    Streaming(Upload),
}

/// The receiving end of a streamed upload; `length` is the caller's `Content-Length`.
#[derive(Debug)]
pub struct Upload {
    receiver: mpsc::Receiver<Result<Bytes, UploadCut>>,
    pub(crate) length: Option<u64>,
}

/// The sending end, fed by the server from the caller's connection.
#[derive(Debug, Clone)]
pub struct UploadSender(mpsc::Sender<Result<Bytes, UploadCut>>);

/// The caller's body ended before it was whole (the connection dropped or failed).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body ended before it was complete")]
pub struct UploadCut;

/// A channel for one upload of `length` bytes (when the caller said).
pub fn upload(length: Option<u64>) -> (UploadSender, Upload) {
    let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
    (UploadSender(sender), Upload { receiver, length })
}

impl UploadSender {
    /// Passes a chunk on, waiting while the upstream is behind; `false` once nobody reads
    /// (the call ended), so the server stops reading the caller's body.
    pub async fn send(&self, chunk: Bytes) -> bool {
        self.0.send(Ok(chunk)).await.is_ok()
    }

    /// The caller's body broke off: the upstream gets a failed body, never a short one.
    /// Without waiting: if the channel is full, nobody is reading it, and dropping the sender
    /// ends the body short, which fails it just the same.
    pub fn cut(self) {
        let _ = self.0.try_send(Err(UploadCut));
    }
}

/// The upload as hyper's request body, counted against the server's limit. Going over it
/// fails the body (so the upstream never sees it end normally) and raises `too_large`.
pub(super) struct UploadBody {
    upload: Upload,
    limit: u64,
    seen: u64,
    pub(super) too_large: Arc<AtomicBool>,
}

impl UploadBody {
    pub(super) fn new(upload: Upload, limit: u64) -> Self {
        Self {
            upload,
            limit,
            seen: 0,
            too_large: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Body for UploadBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match ready!(this.upload.receiver.poll_recv(cx)) {
            None => Poll::Ready(match this.upload.length {
                Some(length) if length != this.seen => Some(Err(Box::new(UploadCut))),
                _ => None,
            }),
            Some(Err(cut)) => Poll::Ready(Some(Err(Box::new(cut)))),
            Some(Ok(chunk)) => {
                this.seen = this.seen.saturating_add(chunk.len() as u64);
                if this.seen > this.limit {
                    this.too_large.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err("the request body is over the limit".into())));
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.upload.length {
            Some(length) => SizeHint::with_exact(length),
            None => SizeHint::default(),
        }
    }
}

/// Why an answer stopped streaming before its end. The status line has gone out by then, so
/// the caller sees the connection cut, never a short body that looks whole.
#[derive(Debug, thiserror::Error)]
pub enum AnswerCut {
    #[error("the upstream's answer is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("the upstream's answer did not end within the call's deadline")]
    Timeout,
    #[error("the upstream's answer broke off")]
    Broken,
}

/// The upstream's answer body as it arrives, at most `limit` bytes, until the deadline.
pub struct AnswerBody {
    incoming: Incoming,
    limit: u64,
    seen: u64,
    deadline: Pin<Box<Sleep>>,
    done: bool,
    /// The call's secret, masked wherever the upstream repeats it.
    mask: Option<StreamMask>,
}

impl std::fmt::Debug for AnswerBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerBody")
            .field("limit", &self.limit)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

impl AnswerBody {
    pub(super) fn new(incoming: Incoming, limit: u64, deadline: tokio::time::Instant) -> Self {
        Self {
            incoming,
            limit,
            seen: 0,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            done: false,
            mask: None,
        }
    }

    /// Masks the call's secret in what streams from here on.
    pub(super) fn mask(&mut self, mask: Option<StreamMask>) {
        self.mask = mask;
    }
}

impl Stream for AnswerBody {
    type Item = Result<Bytes, AnswerCut>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.done = true;
            return Poll::Ready(Some(Err(AnswerCut::Timeout)));
        }
        loop {
            let frame = match ready!(Pin::new(&mut this.incoming).poll_frame(cx)) {
                None => {
                    this.done = true;
                    // The end: what was held back could not become a secret after all.
                    let rest = this.mask.as_mut().map(StreamMask::finish);
                    return Poll::Ready(rest.filter(|r| !r.is_empty()).map(Ok));
                }
                Some(Err(_)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(AnswerCut::Broken)));
                }
                Some(Ok(frame)) => frame,
            };
            // Trailers are not passed on; only data counts.
            let Ok(chunk) = frame.into_data() else {
                continue;
            };
            this.seen = this.seen.saturating_add(chunk.len() as u64);
            if this.seen > this.limit {
                this.done = true;
                return Poll::Ready(Some(Err(AnswerCut::TooLarge(this.limit))));
            }
            let chunk = match this.mask.as_mut() {
                Some(mask) => mask.next(chunk),
                None => chunk,
            };
            if chunk.is_empty() {
                continue;
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
    }
}

/// Headers that describe one connection, not the message (RFC 9110, 7.6.1), and `Upgrade`.
/// As `HeaderName`s, not text: removing by a `&str` parses the name again every time, and
/// this runs twice on every proxied call.
const HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes the hop-by-hop headers, and those a `Connection` header names; allocates only
/// when there is such a header (rare), since this runs twice on every proxied call.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|text| text.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    for name in named {
        headers.remove(name);
    }
}

/// The caller's headers as they go upstream: without hop-by-hop ones, the caller's
/// `Authorization` (it was for Keyway), cookies (Keyway's own, or the browser's), `Host`
/// (the upstream's is set from the URL), the length (hyper sets it from the body) and
/// anything addressed to Keyway (`Keyway-*`).
pub(super) fn request_headers(mut headers: HeaderMap) -> HeaderMap {
    remove_hop_by_hop(&mut headers);
    for name in [
        &header::AUTHORIZATION,
        &header::COOKIE,
        &header::HOST,
        &header::CONTENT_LENGTH,
        &header::EXPECT,
    ] {
        headers.remove(name);
    }
    remove_keyway_headers(&mut headers);
    headers
}

/// The upstream's headers as they go back: without hop-by-hop ones, without `Set-Cookie`
/// (a browser would keep an upstream's cookie for Keyway's own origin), and without
/// `Keyway-*` (an upstream must not pass its answer off as Keyway's own error).
pub(super) fn answer_headers(mut headers: HeaderMap) -> HeaderMap {
    remove_hop_by_hop(&mut headers);
    headers.remove(header::SET_COOKIE);
    remove_keyway_headers(&mut headers);
    headers
}

fn remove_keyway_headers(headers: &mut HeaderMap) {
    if !headers.keys().any(|n| n.as_str().starts_with("keyway-")) {
        return;
    }
    let keyway: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("keyway-"))
        .cloned()
        .collect();
    for name in keyway {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn keyways_and_the_connections_headers_stay_behind() {
        let out = request_headers(map(&[
            ("authorization", "Bearer keyway-token"),
            ("cookie", "keyway_session=1"),
            ("connection", "close, x-private"),
            ("x-private", "1"),
            ("keyway-upstream", "https://a.example"),
            ("te", "trailers"),
            ("content-length", "3"),
            ("accept", "application/json"),
            ("x-request-id", "7"),
        ]));
        let mut names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "x-request-id"]);
    }

    #[test]
    fn answers_keep_their_headers_but_not_cookies_or_hops() {
        let out = answer_headers(map(&[
            ("set-cookie", "a=1"),
            ("transfer-encoding", "chunked"),
            ("content-type", "application/json"),
            ("content-length", "2"),
            ("keyway-error", "not_found"),
            ("etag", "\"x\""),
        ]));
        let mut names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-length", "content-type", "etag"]);
    }
}
