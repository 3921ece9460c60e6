//! The system lookup against a DNS server on loopback that never answers: a lookup that its
//! caller gives up on asks nothing more, where one that is waited for tries again.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_net::resolver::{Lookup, SystemLookup, RETRIES};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A UDP socket on loopback that counts the queries it receives and answers none.
async fn silent_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while socket.recv_from(&mut buf).await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, seen)
}

/// Queries the server received once they stop coming (none for 100 ms).
async fn settled(seen: &AtomicUsize) -> usize {
    let mut last = seen.load(Ordering::SeqCst);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = seen.load(Ordering::SeqCst);
        if now == last {
            return now;
        }
        last = now;
    }
}

#[tokio::test]
async fn a_lookup_given_up_at_its_deadline_asks_nothing_more() {
    let (server, seen) = silent_server().await;
    // Each attempt waits 300 ms for an answer before the next one.
    let lookup = SystemLookup::with_servers(&[server], Duration::from_millis(300), "");
    // One lookup that is waited for (it tries again), and 64 that their callers give up on
    // after 100 ms, as a call past its deadline does.
    let waited = tokio::spawn({
        let lookup = lookup.clone();
        async move { lookup.lookup("retried.silent.test.").await }
    });
    let given_up = (0..64).map(|i| {
        let lookup = lookup.clone();
        tokio::spawn(async move {
            let name = format!("n{i}.silent.test.");
            tokio::time::timeout(Duration::from_millis(100), lookup.lookup(&name))
                .await
                .is_err()
        })
    });
    for handle in given_up.collect::<Vec<_>>() {
        assert!(handle.await.unwrap(), "the lookup was given up");
    }
    let asked = settled(&seen).await;
    assert!(
        asked >= 2 * 64,
        "every lookup asked for A and AAAA: {asked}"
    );
    // Well past two more attempts (2 x 300 ms): only the one still waited for asked again.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = seen.load(Ordering::SeqCst);
    let retried = after - asked;
    assert!(retried >= 1, "the lookup still waited for tried again");
    // The waited-for lookup's retries, for A and AAAA, are all that may follow.
    assert!(
        retried <= 2 * RETRIES,
        "the given-up lookups asked again: {retried} more queries"
    );
    let result = waited.await.unwrap();
    assert!(result.is_err(), "no answer, so no addresses");
}

#[tokio::test]
async fn localhost_is_loopback_without_asking_a_server() {
    // RFC 6761: answered by the resolver itself (this test must not leave loopback).
    let (server, seen) = silent_server().await;
    let lookup = SystemLookup::with_servers(&[server], Duration::from_millis(300), "");
    let mut found = lookup.lookup("localhost").await.unwrap();
    found.sort();
    let expected: Vec<std::net::IpAddr> = vec![
        std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::Ipv6Addr::LOCALHOST.into(),
    ];
    assert_eq!(found, expected);
    assert_eq!(seen.load(Ordering::SeqCst), 0, "no query was sent");
}

#[tokio::test]
async fn a_name_in_the_hosts_file_is_answered_from_it_alone() {
    // Pinned to one IPv4 address (docker --add-host, Kubernetes hostAliases): no server is
    // asked, for AAAA either, and nothing a server says is added to the pin.
    let (server, seen) = silent_server().await;
    let hosts = "# pinned\n10.1.2.3 api.partner.test partner\n";
    let lookup = SystemLookup::with_servers(&[server], Duration::from_millis(300), hosts);
    let found = tokio::time::timeout(Duration::from_secs(2), lookup.lookup("api.partner.test"))
        .await
        .expect("answered at once, not after the server's timeouts")
        .unwrap();
    assert_eq!(found, vec![std::net::IpAddr::from([10, 1, 2, 3])]);
    assert_eq!(settled(&seen).await, 0, "no query was sent");
}
