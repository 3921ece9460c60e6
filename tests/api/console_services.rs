//! Web services in the console over HTTP: curl import with unsupported options and "Remove
//! them and continue", saving, testing with values for the placeholders against a loopback
//! upstream, importing over a saved one only after confirmation, the API's refusals shown on
//! the form, rights (read-only for others, 404 for another org) and no secret in any page.

use crate::console::sign_in_with_token;
use crate::helpers::secret;
use crate::upstream::{Tls, Upstream};
use keyway_testkit::browser::Browser;
use serde_json::json;

crate::both_backends! {
    async fn import_save_test_and_replace_web_services(app) {
        let upstream = Upstream::start(Tls::Plain).await;
        let alice = app.user("acme", "alice", false).await;
        let bob = app.user("acme", "bob", false).await;
        let eve = app.user("evil", "eve", true).await;
        let key = secret("service-key");
        let credential = app
            .credential(&alice.token, json!({"name": "Upstream key", "kind": "api_key", "api_key": key, "header_name": "X-API-Key", "prefix": ""}))
            .await;
        let browser = Browser::new(&app.address);
        sign_in_with_token(&browser, &alice.token).await;

        let list = browser.get("/console/web-services").await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(list.body.contains("No web services yet"));
        let new = browser.get("/console/web-services/new").await;
        assert_eq!(new.status, 200, "{}", new.body);
        assert!(new.body.contains(&format!("<option value=\"{credential}\"")), "the account is offered: {}", new.body);
        let csrf = new.field("csrf").unwrap();

        // A pasted command with options a web service cannot have: listed, then left out.
        let url = upstream.url("http", "upstream.test", "/json?q=${query}");
        let command = format!("curl -L --max-time 5 -H 'Accept: application/json' '{url}'");
        let form = |drop: bool| {
            let mut form = vec![("csrf", csrf.clone()), ("command", command.clone()), ("name", "Search".to_owned()), ("credential_id", credential.clone())];
            if drop {
                form.push(("drop_unsupported", "yes".to_owned()));
            }
            form
        };
        let pairs = |form: &[(&'static str, String)]| form.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
        let refused = post(&browser, "/console/web-services/import", &pairs(&form(false))).await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.body.contains("<li><code>-L</code></li>") && refused.body.contains("<li><code>--max-time</code></li>"), "{}", refused.body);
        assert!(refused.body.contains("Remove them and continue"));
        let imported = post(&browser, "/console/web-services/import", &pairs(&form(true))).await;
        assert_eq!(imported.status, 200, "{}", imported.body);
        assert!(imported.body.contains("Left out: <code>-L</code> <code>--max-time</code>"), "{}", imported.body);
        assert!(imported.body.contains("Accept: application/json"));
        assert!(imported.body.contains(&format!("value=\"{}\"", url.replace('&', "&amp;"))), "{}", imported.body);
        assert!(imported.body.contains(&format!("<option value=\"{credential}\" selected")), "the chosen account stays: {}", imported.body);
        // A command with literal secrets: they are left out of the form, and said so.
        let leaky = format!("curl -H 'X-API-Key: sk_live_pasted123' '{}'", upstream.url("http", "upstream.test", "/json?api_key=sk_live_query456&q=1"));
        let stripped = post(&browser, "/console/web-services/import", &[("csrf", csrf.clone()), ("command", leaky)]).await;
        assert_eq!(stripped.status, 200, "{}", stripped.body);
        assert!(stripped.body.contains("they were left out"), "{}", stripped.body);
        assert!(stripped.body.contains("X-API-Key: \n") && (stripped.body.contains("api_key=&amp;q=1") || stripped.body.contains("api_key=&#38;q=1")), "{}", stripped.body);
        assert!(!stripped.body.contains("sk_live_pasted123") && !stripped.body.contains("sk_live_query456"));
        // Nothing is saved by an import.
        assert!(browser.get("/console/web-services").await.body.contains("No web services yet"));

        // Saved from the form it became.
        let definition = |name: &str, headers: &str| vec![
            ("csrf", csrf.clone()), ("name", name.to_owned()), ("method", "GET".to_owned()), ("url", url.clone()),
            ("headers", headers.to_owned()), ("content_type", String::new()), ("body", String::new()), ("credential_id", credential.clone()),
        ];
        // The API's refusals come back on the form, with what was typed.
        let bad = post(&browser, "/console/web-services/new", &definition("Search", "Accept application/json")).await;
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("headers, line 1: write each header as `Name: value`"), "{}", bad.body);
        let literal = post(&browser, "/console/web-services/new", &definition("Search", "X-Api-Key: sk_live_abcdefghijklmnop")).await;
        assert_eq!(literal.status, 400, "{}", literal.body);
        assert!(literal.body.contains("credential"), "says to store it as a credential: {}", literal.body);
        assert!(!literal.body.contains("sk_live_abcdefghijklmnop"), "a refused secret is not shown back");
        let saved = post(&browser, "/console/web-services/new", &definition("Search", "Accept: application/json")).await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let location = saved.location.unwrap();
        let id = location.strip_prefix("/console/web-services/").and_then(|r| r.strip_suffix("?done=added")).unwrap().to_owned();
        let page = browser.get(&location).await;
        assert!(page.body.contains("The web service was saved. Test it below."));
        assert!(page.body.contains("name=\"value.query\""), "a field for each placeholder: {}", page.body);

        // Test: the upstream gets the filled-in, signed call; the page shows the answer.
        let tested = post(&browser, &format!("/console/web-services/{id}/test"), &[("csrf", csrf.clone()), ("value.query", "a b".to_owned())]).await;
        assert_eq!(tested.status, 200, "{}", tested.body);
        let seen = upstream.requests().last().unwrap().clone();
        assert_eq!(seen.target, "/json?q=a%20b");
        assert_eq!(seen.header("x-api-key"), Some(key.as_str()));
        assert!(tested.body.contains("<dt>Status</dt><dd>200</dd>"), "{}", tested.body);
        assert!(tested.body.contains("&quot;ok&quot;: true") || tested.body.contains("&#34;ok&#34;: true"), "pretty JSON: {}", tested.body);
        assert!(tested.body.contains("<dt>Attempts</dt><dd>1</dd>"));
        assert!(tested.body.contains("value=\"a b\""), "the value typed stays");

        // Others in the org see it read-only; another org gets the 404 page.
        let other = Browser::new(&app.address);
        sign_in_with_token(&other, &bob.token).await;
        let seen_by_bob = other.get(&format!("/console/web-services/{id}")).await;
        assert_eq!(seen_by_bob.status, 200);
        assert!(seen_by_bob.body.contains("<fieldset disabled>"), "{}", seen_by_bob.body);
        assert!(!seen_by_bob.body.contains("Remove web service"));
        let outsider = Browser::new(&app.address);
        sign_in_with_token(&outsider, &eve.token).await;
        let hidden = outsider.get(&format!("/console/web-services/{id}")).await;
        assert_eq!(hidden.status, 404);
        let nothing = outsider.get("/console/web-services/no-such-id").await;
        assert_eq!((nothing.status, nothing.body.clone()), (404, hidden.body.clone()));
        let eve_csrf = outsider.get("/console/web-services").await.field("csrf").unwrap();
        let poked = post(&outsider, &format!("/console/web-services/{id}/test"), &[("csrf", eve_csrf)]).await;
        assert_eq!(poked.status, 404, "{}", poked.body);
        // A post without the session's CSRF token changes nothing.
        let forged = post(&browser, &format!("/console/web-services/{id}"), &definition("Forged", "").into_iter().skip(1).chain([("csrf", "0".repeat(64))]).collect::<Vec<_>>()).await;
        assert_eq!(forged.status, 403);

        // Importing over it replaces its configuration only once confirmed.
        let other_url = upstream.url("http", "upstream.test", "/status/204");
        let over = post(&browser, &format!("/console/web-services/{id}/import"), &[("csrf", csrf.clone()), ("command", format!("curl -X DELETE {other_url}")), ("name", "Search".to_owned()), ("credential_id", credential.clone())]).await;
        assert_eq!(over.status, 200, "{}", over.body);
        assert!(over.body.contains("name=\"confirm_replace\""));
        let mut replaced = definition("Search", "");
        replaced[2].1 = "DELETE".to_owned();
        replaced[3].1 = other_url.clone();
        replaced.push(("imported", "yes".to_owned()));
        let unconfirmed = post(&browser, &format!("/console/web-services/{id}"), &replaced).await;
        assert_eq!(unconfirmed.status, 400);
        assert!(unconfirmed.body.contains("tick the confirmation"), "{}", unconfirmed.body);
        let res = app.call("GET", &format!("/v1/web-services/{id}"), &alice.token, None).await;
        assert_eq!(res.json["request"]["method"], "GET", "nothing changed yet");
        replaced.push(("confirm_replace", "yes".to_owned()));
        let confirmed = post(&browser, &format!("/console/web-services/{id}"), &replaced).await;
        assert_eq!(confirmed.status, 303, "{}", confirmed.body);
        let res = app.call("GET", &format!("/v1/web-services/{id}"), &alice.token, None).await;
        assert_eq!((res.json["request"]["method"].as_str(), res.json["request"]["url"].as_str()), (Some("DELETE"), Some(other_url.as_str())));

        // Its account removed by force: the list marks it, and a test explains the refusal.
        let res = app.call("DELETE", &format!("/v1/credentials/{credential}?force=true"), &alice.token, None).await;
        assert_eq!(res.status, 204, "{}", res.json);
        assert!(browser.get("/console/web-services").await.body.contains("account removed"));
        let tested = post(&browser, &format!("/console/web-services/{id}/test"), &[("csrf", csrf.clone())]).await;
        assert!(tested.body.contains("<code>credential_removed</code>"), "{}", tested.body);

        let removed = post(&browser, &format!("/console/web-services/{id}/remove"), &[("csrf", csrf.clone()), ("confirm", "yes".to_owned())]).await;
        assert_eq!((removed.status, removed.location.as_deref()), (303, Some("/console/web-services?done=removed")));
        for shown in [key.as_str(), alice.token.as_str()] {
            assert!(!browser.pages().contains(shown) && !other.pages().contains(shown), "a page showed a secret");
        }
    }
}

async fn post(
    browser: &Browser,
    path: &str,
    form: &[(&'static str, String)],
) -> keyway_testkit::browser::Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post(path, &pairs).await
}
