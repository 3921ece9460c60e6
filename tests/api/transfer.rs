//! Moving a credential to another owner when a person leaves: admins only, within the org, to
//! an active user without a credential of that name, audited; workflows keep working.

use crate::both_backends;
use crate::helpers::secret;
use crate::upstream::{Tls, Upstream};
use serde_json::json;

both_backends! {
    async fn an_admin_moves_a_leavers_credential_and_workflows_keep_running(app) {
        let alice = app.user("acme", "alice", false).await;
        let bob = app.user("acme", "bob", false).await;
        let carol = app.user("acme", "carol", false).await;
        let dave = app.user("acme", "dave", false).await;
        let admin = app.user("acme", "root", true).await;
        let stranger = app.user("evil", "eve", true).await;
        let upstream = Upstream::start(Tls::Plain).await;
        let key = secret("key");
        let created = app.call("POST", "/v1/credentials", &alice.token, Some(json!({
            "name": "GitHub", "kind": "api_key", "api_key": key,
        }))).await;
        assert_eq!(created.status, 201, "{}", created.json);
        let id = created.json["id"].as_str().unwrap().to_owned();
        let saved = app.call("POST", "/v1/web-services", &alice.token, Some(json!({
            "name": "Issues", "request": {"url": upstream.url("http", "127.0.0.1", "/issues"), "credential_id": id},
        }))).await;
        assert_eq!(saved.status, 201, "{}", saved.json);
        let ws = saved.json["id"].as_str().unwrap().to_owned();
        let transfer = format!("/v1/credentials/{id}/transfer");
        let to = |owner: &str| Some(json!({ "owner": owner }));

        // Who may not: its owner (not an admin), another member, another org's admin.
        let res = app.call("POST", &transfer, &alice.token, to("bob")).await;
        assert_eq!((res.status, res.code()), (403, "forbidden"), "{}", res.json);
        let res = app.call("POST", &transfer, &bob.token, to("bob")).await;
        assert_eq!((res.status, res.code()), (404, "not_found"));
        let res = app.call("POST", &transfer, &stranger.token, to("eve")).await;
        assert_eq!((res.status, res.code()), (404, "not_found"));

        // Not while its owner is active: an admin may not use a member's unshared credential,
        // and moving it to themselves would be a way to.
        for owner in ["root", "bob"] {
            let res = app.call("POST", &transfer, &admin.token, to(owner)).await;
            assert_eq!((res.status, res.code()), (409, "credential_owner_active"), "{}", res.json);
        }

        // Alice leaves.
        app.sql("UPDATE users SET disabled_at = 1 WHERE id = $1", &[&alice.id]).await;

        // To whom it may not go: nobody, someone of another org, a disabled user, someone who
        // already has a credential of that name.
        for owner in ["nobody", "eve"] {
            let res = app.call("POST", &transfer, &admin.token, to(owner)).await;
            assert_eq!((res.status, res.code()), (400, "invalid_request"), "{}", res.json);
            assert_eq!(res.json["error"]["field"], "owner");
        }
        app.sql("UPDATE users SET disabled_at = 1 WHERE id = $1", &[&dave.id]).await;
        let res = app.call("POST", &transfer, &admin.token, to("dave")).await;
        assert_eq!((res.status, res.code()), (400, "invalid_request"));
        let clash = app.call("POST", "/v1/credentials", &carol.token, Some(json!({
            "name": "GitHub", "kind": "api_key", "api_key": secret("other"),
        }))).await;
        assert_eq!(clash.status, 201);
        let res = app.call("POST", &transfer, &admin.token, to("carol")).await;
        assert_eq!((res.status, res.code()), (409, "credential_name_taken"), "{}", res.json);
        let res = app.call("POST", &transfer, &admin.token, Some(json!({"owner": "bob", "x": 1}))).await;
        assert_eq!((res.status, res.code()), (400, "invalid_request"));
        let shown = app.call("GET", &format!("/v1/credentials/{id}"), &admin.token, None).await;
        assert_eq!(shown.json["owner"]["name"], "alice", "every refusal left it where it was");

        // The admin moves her credential to Bob.
        let res = app.call("POST", &transfer, &admin.token, to("bob")).await;
        assert_eq!(res.status, 200, "{}", res.json);
        assert_eq!(res.json["owner"]["name"], "bob");
        assert_eq!(res.json["owner"]["id"], bob.id.as_str());

        // Bob now runs the workflow with the same secret; the move is on record.
        let run = app.call("POST", &format!("/v1/web-services/{ws}/run"), &bob.token, Some(json!({}))).await;
        assert_eq!(run.status, 200, "{}", run.json);
        let bearer = format!("Bearer {key}");
        assert_eq!(upstream.requests()[0].header("authorization"), Some(bearer.as_str()));
        let audit = app.call("GET", &format!("/v1/audit?credential_id={id}"), &admin.token, None).await;
        let transfers: Vec<_> = audit.json["events"].as_array().unwrap().iter()
            .filter(|e| e["action"] == "credential.transfer").collect();
        let moved: Vec<_> = transfers.iter().filter(|e| e["outcome"] == "success").collect();
        assert_eq!(moved.len(), 1, "{}", audit.json);
        assert_eq!(moved[0]["actor"]["name"], "root");
        assert_eq!(moved[0]["detail"], json!({"from": alice.id, "to": bob.id}));
        let denied: Vec<_> = transfers.iter().filter(|e| e["outcome"] == "denied").collect();
        assert_eq!(denied.len(), 1, "the owner's refused attempt is on record: {}", audit.json);
        assert_eq!(denied[0]["actor"]["name"], "alice");
        app.assert_secrets_kept(&[&key]).await;
    }
}
