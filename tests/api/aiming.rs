//! Who may aim a credential (issue 8): binding a credential to a web service, or changing a
//! web service bound to one, needs the right to use that credential. The table below is
//! checked cell by cell: roles (credential owner, member, admin, another org's admin) ×
//! shared or unshared × actions.

use crate::both_backends;
#[allow(unused_imports)]
use crate::helpers::*;
use crate::upstream::{Tls, Upstream};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy)]
enum Action {
    /// Create a web service bound to the credential.
    CreateBound,
    /// Change the URL of the owner's web service bound to it.
    ChangeUrl,
    /// Re-point the owner's web service to the actor's own credential.
    ChangeCredential,
    /// Rename the owner's web service (no change to what it sends).
    Rename,
    Run,
    Delete,
}

/// Expected status per role (owner, member, admin, stranger) for one sharing setting.
fn expected(action: Action, shared: bool) -> [u16; 4] {
    use Action::*;
    match (action, shared) {
        (CreateBound, true) => [201, 201, 201, 404],
        (CreateBound, false) => [201, 404, 403, 404],
        // Only the web service's owner or an admin may change it at all; an admin only if the
        // credential is theirs to use.
        (ChangeUrl | ChangeCredential, true) => [200, 403, 200, 404],
        (ChangeUrl | ChangeCredential, false) => [200, 403, 403, 404],
        (Rename, _) => [200, 403, 200, 404],
        (Run, true) => [200, 200, 200, 404],
        // The member cannot even see the unshared credential.
        (Run, false) => [200, 404, 403, 404],
        (Delete, _) => [204, 403, 204, 404],
    }
}

both_backends! {
async fn aiming_a_credential_needs_the_right_to_use_it(app) {
    let owner = app.user("acme", "owner", false).await;
    let member = app.user("acme", "member", false).await;
    let admin = app.user("acme", "admin", true).await;
    let stranger = app.user("evil", "stranger", true).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let actors = [&owner, &member, &admin, &stranger];
    let names = ["owner", "member", "admin", "stranger"];
    // Each actor's own credential, to re-point a web service to.
    let mut own = Vec::new();
    for (actor, name) in actors.iter().zip(names) {
        let res = app.call("POST", "/v1/credentials", &actor.token, Some(json!({
            "name": format!("own-{name}"), "kind": "api_key", "api_key": secret("own"),
        }))).await;
        assert_eq!(res.status, 201, "{}", res.json);
        own.push(res.json["id"].as_str().unwrap().to_owned());
    }
    let mut checked = 0;
    for shared in [true, false] {
        let key = secret("aimed");
        let res = app.call("POST", "/v1/credentials", &owner.token, Some(json!({
            "name": format!("aimed-{shared}"), "kind": "api_key", "api_key": key, "shared": shared,
        }))).await;
        let credential = res.json["id"].as_str().unwrap().to_owned();
        let url = upstream.url("http", "upstream.test", "/owner");
        for action in [Action::CreateBound, Action::ChangeUrl, Action::ChangeCredential, Action::Rename, Action::Run, Action::Delete] {
            for (i, actor) in actors.iter().enumerate() {
                // A fresh web service of the owner's, bound to the credential, per cell.
                let ws = app.call("POST", "/v1/web-services", &owner.token, Some(json!({
                    "name": "hook", "request": {"url": url, "credential_id": credential},
                }))).await;
                assert_eq!(ws.status, 201, "{}", ws.json);
                let ws_id = ws.json["id"].as_str().unwrap().to_owned();
                let path = format!("/v1/web-services/{ws_id}");
                let elsewhere = upstream.url("http", "upstream.test", &format!("/elsewhere-{}", names[i]));
                let before = upstream.requests().len();
                let res = match action {
                    Action::CreateBound => app.call("POST", "/v1/web-services", &actor.token, Some(json!({
                        "name": "mine", "request": {"url": elsewhere, "credential_id": credential},
                    }))).await,
                    Action::ChangeUrl => app.call("PUT", &path, &actor.token, Some(json!({
                        "request": {"url": elsewhere, "credential_id": credential},
                    }))).await,
                    Action::ChangeCredential => app.call("PUT", &path, &actor.token, Some(json!({
                        "request": {"url": url, "credential_id": own[i]},
                    }))).await,
                    Action::Rename => app.call("PUT", &path, &actor.token, Some(json!({"name": "renamed"}))).await,
                    Action::Run => app.call("POST", &format!("{path}/run"), &actor.token, Some(json!({}))).await,
                    Action::Delete => app.call("DELETE", &path, &actor.token, None).await,
                };
                let want = expected(action, shared)[i];
                assert_eq!(res.status, want, "{action:?} by {} (shared: {shared}): {}", names[i], res.json);
                checked += 1;
                // What stayed: a refused change leaves the definition as it was.
                let after = app.call("GET", &path, &owner.token, None).await;
                match (action, want) {
                    (Action::ChangeUrl, 200) => assert_eq!(after.json["request"]["url"], elsewhere.as_str()),
                    (Action::ChangeUrl | Action::ChangeCredential, _) if want != 200 => {
                        assert_eq!(after.json["request"]["url"], url.as_str());
                        assert_eq!(after.json["request"]["credential_id"], credential.as_str());
                    }
                    (Action::Rename, 200) => {
                        assert_eq!(after.json["name"], "renamed");
                        assert_eq!(after.json["request"]["credential_id"], credential.as_str(), "a rename keeps the definition");
                    }
                    (Action::Delete, 204) => assert_eq!(after.status, 404),
                    (Action::Run, 200) => assert_eq!(upstream.requests().len(), before + 1),
                    (Action::Run, _) => assert_eq!(upstream.requests().len(), before, "a refused run sends nothing"),
                    _ => {}
                }
                if want == 403 {
                    assert_eq!(res.code(), "forbidden");
                }
                if after.status == 200 {
                    app.call("DELETE", &path, &owner.token, None).await;
                }
                if let (Action::CreateBound, 201) = (action, want) {
                    let id = res.json["id"].as_str().unwrap();
                    app.call("DELETE", &format!("/v1/web-services/{id}"), &actor.token, None).await;
                }
            }
        }
        // Refused aims are in the owner's audit trail.
        if !shared {
            let audit = app.call("GET", &format!("/v1/audit?credential_id={credential}"), &owner.token, None).await;
            let denied: Vec<&Value> = audit.json["events"].as_array().unwrap().iter()
                .filter(|e| e["action"] == "credential.use" && e["outcome"] == "denied").collect();
            assert!(denied.len() >= 4, "admin's create, URL change, re-point and run are audited: {denied:?}");
            assert!(denied.iter().all(|e| e["actor"]["name"] == "admin"));
        }
        app.assert_secrets_kept(&[&key]).await;
    }
    assert_eq!(checked, 2 * 6 * 4, "every cell of the table was checked");
}

async fn a_web_service_whose_credential_was_removed_never_runs_unsigned(app) {
    let alice = app.user("acme", "alice", false).await;
    let upstream = Upstream::start(Tls::Plain).await;
    let make = |name: &str| json!({"name": name, "kind": "api_key", "api_key": secret("k"), "shared": true});
    let res = app.call("POST", "/v1/credentials", &alice.token, Some(make("first"))).await;
    let first = res.json["id"].as_str().unwrap().to_owned();
    let url = upstream.url("http", "upstream.test", "/signed");
    let ws = app.call("POST", "/v1/web-services", &alice.token, Some(json!({
        "name": "hook", "request": {"url": url, "credential_id": first},
    }))).await;
    let path = format!("/v1/web-services/{}", ws.json["id"].as_str().unwrap());
    let res = app.call("DELETE", &format!("/v1/credentials/{first}?force=true"), &alice.token, None).await;
    assert_eq!(res.status, 204, "{}", res.json);

    let res = app.call("GET", &path, &alice.token, None).await;
    assert_eq!(res.json["credential_removed"], true, "{}", res.json);
    assert_eq!(res.json["request"]["credential_id"], Value::Null);
    let res = app.call("POST", &format!("{path}/run"), &alice.token, Some(json!({}))).await;
    assert_eq!((res.status, res.code()), (409, "credential_removed"), "{}", res.json);
    assert!(upstream.requests().is_empty(), "nothing went out unsigned");

    // A rename, or a new definition without a credential, keeps the marker.
    let res = app.call("PUT", &path, &alice.token, Some(json!({"name": "renamed"}))).await;
    assert_eq!(res.json["credential_removed"], true, "{}", res.json);
    let res = app.call("PUT", &path, &alice.token, Some(json!({"request": {"url": url}}))).await;
    assert_eq!(res.json["credential_removed"], true, "{}", res.json);
    let res = app.call("POST", &format!("{path}/run"), &alice.token, Some(json!({}))).await;
    assert_eq!(res.status, 409);

    // Binding a credential clears it.
    let res = app.call("POST", "/v1/credentials", &alice.token, Some(make("second"))).await;
    let second = res.json["id"].as_str().unwrap().to_owned();
    let res = app.call("PUT", &path, &alice.token, Some(json!({"request": {"url": url, "credential_id": second}}))).await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert!(res.json.get("credential_removed").is_none(), "{}", res.json);
    let res = app.call("POST", &format!("{path}/run"), &alice.token, Some(json!({}))).await;
    assert_eq!(res.status, 200, "{}", res.json);
    assert!(upstream.requests()[0].header("authorization").is_some(), "signed");
}
}
