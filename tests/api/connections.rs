//! What a client can do with the connection itself: too many or too large headers, and a body
//! trickled in slowly. Each is bounded before any handler runs or holds memory for long.

use crate::helpers::{spawn_app, Db, TestApp};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Sends a request head (and no body) and returns the status line's code.
async fn status_of_head(app: &TestApp, head: &str) -> u16 {
    let mut stream = connect(app).await;
    // The server may answer and close before all of a large head is written.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let line = String::from_utf8_lossy(&answer[..n]).to_string();
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

fn head_with(headers: &str) -> String {
    format!("GET /v1/me HTTP/1.1\r\nHost: keyway.test\r\n{headers}\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_count_and_size_are_capped() {
    let app = spawn_app(Db::Sqlite).await;
    let many = |n: usize| (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>();
    // Under the caps the request reaches Keyway (401: no token).
    assert_eq!(status_of_head(&app, &head_with(&many(90))).await, 401);
    let big = format!("X-Big: {}\r\n", "a".repeat(64 * 1024));
    assert_eq!(status_of_head(&app, &head_with(&big)).await, 401);
    // Over them it is refused before routing.
    assert_eq!(status_of_head(&app, &head_with(&many(100))).await, 431);
    let huge = format!("X-Big: {}\r\n", "a".repeat(1024 * 1024));
    assert_eq!(status_of_head(&app, &head_with(&huge)).await, 431);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_in_slowly_is_cut_off() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /v1/dispatch HTTP/1.1\r\nHost: keyway.test\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{",
        alice.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    // One byte every 200 ms: 100 KB would take five and a half hours.
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => {
                let n = read.unwrap_or(0);
                if n == 0 { break; }
                answer.extend_from_slice(&buf[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}}") { break; }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                let _ = stream.write_all(b" ").await;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never cut off");
    }
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""code":"request_timeout""#), "{text}");
    assert!(
        elapsed >= Duration::from_secs(9) && elapsed < Duration::from_secs(15),
        "cut off after the 10 s read timeout, not before: {elapsed:?}"
    );
}
