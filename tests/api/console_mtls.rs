//! mTLS identities in the console: PEM files uploaded as a browser sends them (multipart), a
//! chosen file winning over pasted text, the check that shows subject, issuer, expiry and
//! fingerprint before saving, refusals, and the key shown nowhere and stored sealed.

use crate::console::sign_in_with_token;
use crate::helpers::{secret, spawn_app, Db};
use keyway_testkit::browser::Browser;
use keyway_testkit::upstream::Pki;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_files_are_checked_before_saving_and_shown_after() {
    let app = spawn_app(Db::Sqlite).await;
    let alice = app.user("acme", "alice", false).await;
    let browser = Browser::new(&app.address);
    sign_in_with_token(&browser, &alice.token).await;
    let csrf = browser
        .get("/console/credentials/new?kind=basic")
        .await
        .field("csrf")
        .unwrap();
    let pki = Pki::new("console-files");
    let leaf = pki.leaf("files-client", &[]);
    let other = pki.leaf("someone-else", &[]);
    let (user, password) = (secret("mtls-user"), secret("mtls-password"));

    // The check: what the certificate says, before anything is saved.
    let fields = [
        ("csrf", csrf.as_str()),
        ("kind", "basic"),
        ("name", "Bank"),
        ("username", user.as_str()),
        ("password", password.as_str()),
        ("certificate_pem", ""),
        ("private_key_pem", ""),
    ];
    let files: [(&str, &str, &[u8]); 2] = [
        (
            "certificate_pem_file",
            "client.crt",
            leaf.cert_pem.as_bytes(),
        ),
        (
            "private_key_pem_file",
            "client.key",
            leaf.key_pem.as_bytes(),
        ),
    ];
    let checked = browser
        .post_multipart("/console/credentials/check-mtls", &fields, &files)
        .await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    let found: serde_json::Value = serde_json::from_str(&checked.body).unwrap();
    assert!(
        found["subject"].as_str().unwrap().contains("files-client"),
        "{found}"
    );
    assert!(
        found["issuer"].as_str().unwrap().contains("console-files"),
        "{found}"
    );
    assert!(found["not_after"].is_string());
    assert_eq!(found["sha256_fingerprint"].as_str().unwrap().len(), 95);
    assert_eq!(
        app.credential_count(&alice.token).await,
        0,
        "a check stores nothing"
    );
    // A key that does not belong to the certificate is refused with the reason.
    let mismatched: [(&str, &str, &[u8]); 2] = [
        (
            "certificate_pem_file",
            "client.crt",
            leaf.cert_pem.as_bytes(),
        ),
        (
            "private_key_pem_file",
            "other.key",
            other.key_pem.as_bytes(),
        ),
    ];
    let refused = browser
        .post_multipart("/console/credentials/check-mtls", &fields, &mismatched)
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let error: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(
        error["error"]["code"], "invalid_mtls_material",
        "{}",
        refused.body
    );
    assert!(error["error"]["message"].is_string(), "{}", refused.body);
    assert!(!refused.body.contains("PRIVATE KEY"));
    // Without the session's CSRF token there is no check either.
    let mut forged = fields;
    forged[0].1 = "0";
    let forged = browser
        .post_multipart("/console/credentials/check-mtls", &forged, &files)
        .await;
    assert_eq!(forged.status, 403);

    // Saved from files; a chosen file wins over text pasted in the same field.
    let mut pasted = fields;
    pasted[5].1 = "not a certificate";
    let added = browser
        .post_multipart("/console/credentials/new", &pasted, &files)
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let page = browser.get(added.location.as_deref().unwrap()).await;
    assert!(
        page.body.contains("mTLS subject") && page.body.contains("files-client"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains(found["sha256_fingerprint"].as_str().unwrap()));

    // Files that are not text, or a file input the form does not have, are refused.
    let binary: [(&str, &str, &[u8]); 1] =
        [("certificate_pem_file", "client.der", &[0xff, 0xfe, 0x00])];
    let refused = browser
        .post_multipart("/console/credentials/new", &fields, &binary)
        .await;
    assert_eq!(refused.status, 400);
    let stray: [(&str, &str, &[u8]); 1] = [("avatar", "me.png", b"png")];
    let refused = browser
        .post_multipart("/console/credentials/new", &fields, &stray)
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(app.credential_count(&alice.token).await, 1);

    for shown in [leaf.key_pem.as_str(), password.as_str(), user.as_str()] {
        assert!(
            !browser.pages().contains(shown.trim()),
            "a page showed a secret"
        );
    }
    let key_body: String = leaf
        .key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    app.assert_secrets_kept(&[&password, &user, &key_body])
        .await;
}
