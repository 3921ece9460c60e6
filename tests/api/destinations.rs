//! The destination policy: at least 25 refused destinations, each refused before any
//! connection. Loopback spellings go end to end against a live upstream that must see nothing;
//! other networks are checked at the policy layer (`Net::vet_url`, which never connects),
//! so no packet can leave loopback even if the policy were wrong.

use crate::helpers::{secret, spawn_app, spawn_app_configured, test_lookup, Db};
use crate::upstream::{Tls, Upstream};
use keyway_net::{Net, NetConfig, NetError};
use serde_json::json;
use std::sync::Arc;

/// Loopback in every spelling; `{port}` is a live upstream's port.
const LOOPBACK: &[&str] = &[
    "http://127.0.0.1:{port}/",
    "http://127.1:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://017700000001:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://0x7f.0.0.1:{port}/",
    "http://127.000.000.001:{port}/",
    "http://localhost:{port}/",
    "http://LOCALHOST.:{port}/",
    "http://[::1]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
    "http://0.0.0.0:{port}/",
    "http://0:{port}/",
];

/// Other refused networks, never contacted: checked by `vet_url`.
const ELSEWHERE: &[&str] = &[
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://[fd00:ec2::254]/",
    "http://100.64.0.1/",
    "http://100.100.100.200/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://[ff02::1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://0xa9fea9fe/",
    "http://2852039166/",
    "http://internal.test/",
    "http://metadata.test/",
    "http://mixed.test/",
    "http://v6local.test/",
    "http://localhost/",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_destinations_are_refused_before_connecting() {
    // The production default: no allowed networks.
    let app = spawn_app_configured(Db::Sqlite, |settings| {
        settings.dispatch.allow_networks = String::new();
    })
    .await;
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let port = upstream.addr.port().to_string();
    let key = secret("key");
    let credential = app
        .credential(
            &alice.token,
            json!({
                "name": "k", "kind": "api_key", "api_key": key,
            }),
        )
        .await;
    for template in LOOPBACK {
        let url = template.replace("{port}", &port);
        for credential_id in [None, Some(&credential)] {
            let res = app
                .call(
                    "POST",
                    "/v1/dispatch",
                    &alice.token,
                    Some(json!({
                        "request": {"url": url, "credential_id": credential_id},
                    })),
                )
                .await;
            assert_eq!(res.status, 403, "{url}: {}", res.json);
            assert_eq!(res.code(), "destination_not_allowed", "{url}");
        }
    }
    assert!(
        upstream.requests().is_empty(),
        "no refused call reached the upstream"
    );

    let net = Net::new(&NetConfig::default(), Arc::new(test_lookup())).unwrap();
    for url in ELSEWHERE {
        match net.vet_url(url).await {
            Err(NetError::DestinationNotAllowed { .. }) => {}
            other => panic!("{url} was not refused: {other:?}"),
        }
    }
    assert!(LOOPBACK.len() + ELSEWHERE.len() >= 25);
    // Public destinations pass the same check (without being contacted).
    for url in ["http://93.184.215.14/", "http://[2606:4700::1111]/"] {
        assert!(net.vet_url(url).await.is_ok(), "{url}");
    }
    app.assert_secrets_kept(&[&key]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_hosts_keep_a_credential_away_from_other_hosts() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let credential = app
        .credential(
            &alice.token,
            json!({
                "name": "k", "kind": "api_key", "api_key": "secret-value",
                "allowed_hosts": ["api.example.com", "*.example.org"],
            }),
        )
        .await;
    let res = app
        .call("POST", "/v1/dispatch", &alice.token, Some(json!({
            "request": {"url": upstream.url("http", "upstream.test", "/"), "credential_id": credential},
        })))
        .await;
    assert_eq!(res.status, 403, "{}", res.json);
    assert_eq!(res.code(), "credential_host_not_allowed");
    assert_eq!(res.json["error"]["host"], "upstream.test");
    assert!(upstream.requests().is_empty());
    // An admin sees the unshared credential but may not sign calls with it.
    let admin = app.user("acme", "root", true).await;
    let res = app
        .call(
            "POST",
            "/v1/dispatch",
            &admin.token,
            Some(json!({
                "request": {"url": "https://api.example.com/", "credential_id": credential},
            })),
        )
        .await;
    assert_eq!((res.status, res.code()), (403, "forbidden"), "{}", res.json);
    // Without the credential the same call goes through.
    let res = app
        .call(
            "POST",
            "/v1/dispatch",
            &alice.token,
            Some(json!({
                "request": {"url": upstream.url("http", "upstream.test", "/")},
            })),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.json);
}
