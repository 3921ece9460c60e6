//! A provider that answers with recorded responses shaped like a real provider's (Salesforce,
//! Atlassian, Zoom, Google): for shapes the test authorization server cannot produce. It
//! records every request it gets.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub authorization: Option<String>,
    pub form: HashMap<String, String>,
}

type Answers = Arc<Mutex<HashMap<String, VecDeque<Value>>>>;

pub struct Recorded {
    pub base: String,
    answers: Answers,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorded {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorded {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let answers: Answers = Arc::default();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (a, r) = (answers.clone(), received.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (a, r) = (a.clone(), r.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (a, r) = (a.clone(), r.clone());
                        async move { Ok::<_, Infallible>(answer(req, &a, &r).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Self {
            base,
            answers,
            received,
            task,
        }
    }

    /// Queues a JSON answer for `path` (answers are used in order).
    pub fn answer(&self, path: &str, body: Value) {
        self.answers
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default()
            .push_back(body);
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.target.split('?').next() == Some(path))
            .cloned()
            .collect()
    }
}

async fn answer(
    req: Request<Incoming>,
    answers: &Answers,
    received: &Arc<Mutex<Vec<Received>>>,
) -> Response<Full<Bytes>> {
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let path = req.uri().path().to_owned();
    let authorization = req
        .headers()
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned());
    let method = req.method().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let form = url::form_urlencoded::parse(&body).into_owned().collect();
    received.lock().unwrap().push(Received {
        method,
        target,
        authorization,
        form,
    });
    let next = answers
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    match next {
        Some(json) => Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(json.to_string())))
            .unwrap(),
        None => Response::builder()
            .status(404)
            .body(Full::new(Bytes::from_static(b"no recorded answer")))
            .unwrap(),
    }
}
