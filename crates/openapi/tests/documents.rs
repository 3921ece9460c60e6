//! Real-shaped documents (Swagger 2.0, OpenAPI 3.0 and 3.1) and hostile ones.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use keyway_openapi::{Document, OpenApiError, Operation, MAX_DOCUMENT_BYTES};

fn operations(name: &str) -> Vec<Operation> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    Document::parse(&std::fs::read(path).unwrap())
        .unwrap()
        .operations()
        .unwrap()
}

fn find<'a>(ops: &'a [Operation], id: &str) -> &'a Operation {
    ops.iter().find(|o| o.id == id).unwrap()
}

#[test]
fn swagger_2_operations() {
    let ops = operations("petstore-swagger2.json");
    assert_eq!(ops.len(), 4);
    let add = find(&ops, "addPet");
    assert_eq!((add.method.as_str(), add.path.as_str()), ("POST", "/pet"));
    assert_eq!(
        add.servers,
        [
            "https://petstore.swagger.io/v2",
            "http://petstore.swagger.io/v2"
        ]
    );
    assert_eq!(
        add.request_body_types,
        ["application/json", "application/xml"]
    );
    let oauth = &add.security[0].schemes[0];
    assert_eq!((oauth.kind.as_str(), oauth.scopes.len()), ("oauth2", 2));
    assert_eq!(
        oauth.authorization_url.as_deref(),
        Some("https://petstore.swagger.io/oauth/authorize")
    );
    let get = find(&ops, "getPetById");
    assert_eq!(get.parameters[0].name, "petId");
    assert!(get.parameters[0].required);
    let key = &get.security[0].schemes[0];
    assert_eq!(
        (
            key.kind.as_str(),
            key.location.as_deref(),
            key.parameter_name.as_deref()
        ),
        ("apiKey", Some("header"), Some("api_key"))
    );
    let form = find(&ops, "updatePetWithForm");
    assert_eq!(
        form.request_body_types,
        ["application/x-www-form-urlencoded"]
    );
    assert!(form.parameters.iter().all(|p| p.location != "formData"));
    // No operationId: named by method and path.
    assert!(ops.iter().any(|o| o.id == "GET /store/inventory"));
}

#[test]
fn openapi_3_0_operations() {
    let ops = operations("payments-openapi30.json");
    let list = find(&ops, "GetCustomers");
    assert_eq!(list.servers, ["https://api.payments.example.com"]);
    let limit = &list.parameters[0];
    assert_eq!((limit.name.as_str(), limit.required), ("limit", false));
    assert!(list.parameters[1].required);
    assert_eq!(
        list.security[0].schemes[0].scheme.as_deref(),
        Some("bearer"),
        "the document's default"
    );
    let create = find(&ops, "PostCustomers");
    assert_eq!(
        create.request_body_types,
        ["application/x-www-form-urlencoded"]
    );
    assert_eq!(create.security.len(), 2, "basic or bearer");
    assert_eq!(
        create.security[0].schemes[0].scheme.as_deref(),
        Some("basic")
    );
    assert!(
        find(&ops, "GetBalance").security.is_empty(),
        "an empty list means no authentication"
    );
    let one = find(&ops, "GetCustomersCustomer");
    assert_eq!(one.parameters[1].location, "header");
}

#[test]
fn openapi_3_1_operations() {
    let ops = operations("calendar-openapi31.json");
    let list = find(&ops, "events.list");
    assert_eq!(
        list.path, "/calendars/{calendarId}/events",
        "a path item given by reference"
    );
    assert_eq!(
        list.servers,
        ["https://events.calendar.example.com/v3"],
        "the operation's own servers first"
    );
    let oauth = &list.security[0].schemes[0];
    assert_eq!(
        oauth.token_url.as_deref(),
        Some("https://oauth2.example.com/token")
    );
    assert_eq!(oauth.scopes, ["calendar.readonly"]);
    let key = &list.security[1].schemes[0];
    assert_eq!(
        (key.location.as_deref(), key.parameter_name.as_deref()),
        (Some("query"), Some("key"))
    );
    let import = find(&ops, "events.import");
    assert_eq!(
        import.request_body_types,
        ["application/json", "application/xml"]
    );
    assert_eq!(import.servers, ["https://calendar.example.com/v3"]);
}

#[test]
fn a_yaml_document() {
    let ops = operations("helpdesk-openapi30.yaml");
    let create = find(&ops, "createTicket");
    assert_eq!(
        create.servers,
        ["https://{subdomain}.helpdesk.example.com/api/v2"]
    );
    assert_eq!(create.request_body_types, ["application/xml"]);
    assert_eq!(
        create.security[0].schemes[0].scheme.as_deref(),
        Some("basic")
    );
    let show = find(&ops, "showTicket");
    assert_eq!(
        show.parameters.len(),
        2,
        "the path's parameter and the operation's"
    );
    assert_eq!(show.parameters[0].name, "ticket_id");
    assert!(!show.parameters[1].required);
}

#[test]
fn hostile_documents_get_a_clear_refusal() {
    let refused = |text: &str| Document::parse(text.as_bytes()).and_then(|d| d.operations());
    assert!(matches!(refused("{not json"), Err(OpenApiError::Syntax(m)) if m.starts_with("JSON")));
    assert!(
        matches!(refused("openapi: [unclosed"), Err(OpenApiError::Syntax(m)) if m.starts_with("YAML"))
    );
    assert_eq!(refused("just some text"), Err(OpenApiError::NotOpenApi));
    assert!(
        matches!(Document::parse(b"\xff\xfe openapi"), Err(OpenApiError::Syntax(m)) if m.contains("UTF-8"))
    );
    assert_eq!(refused("{}"), Err(OpenApiError::NotOpenApi));
    assert!(matches!(
        refused(r#"{"openapi": "4.0.0"}"#),
        Err(OpenApiError::UnsupportedVersion(_))
    ));
    assert!(matches!(
        refused(r#"{"swagger": "1.2"}"#),
        Err(OpenApiError::UnsupportedVersion(_))
    ));
    let deep = format!(
        r#"{{"openapi": "3.0.0", "x": {}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(matches!(refused(&deep), Err(OpenApiError::Syntax(m)) if m.contains("recursion")));
    let cyclic = r##"{"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"$ref": "#/components/parameters/p"}]}}},
        "components": {"parameters": {"p": {"$ref": "#/components/parameters/q"}, "q": {"$ref": "#/components/parameters/p"}}}}"##;
    let err = refused(cyclic).unwrap_err();
    assert!(matches!(err, OpenApiError::CyclicRef { .. }));
    assert!(
        err.to_string().starts_with("paths./a.get.parameters[0]"),
        "{err}"
    );
    let remote = r#"{"openapi": "3.1.0", "paths": {"/a": {"$ref": "https://attacker.example/paths.json#/a"}}}"#;
    assert!(matches!(
        refused(remote),
        Err(OpenApiError::RemoteRef { .. })
    ));
    let unknown_scheme =
        r#"{"openapi": "3.0.0", "security": [{"nope": []}], "paths": {"/a": {"get": {}}}}"#;
    assert!(matches!(
        refused(unknown_scheme),
        Err(OpenApiError::Invalid { .. })
    ));
    // Every operation inherits the document's security options: 2,000 paths under 200
    // options would list 400,000 of them from 60 KB of text. Refused, naming the bound.
    let options = vec![r#"{"k": []}"#; 200].join(",");
    let paths: Vec<String> = (0..2000)
        .map(|i| format!(r#""/p{i}": {{"get": {{}}}}"#))
        .collect();
    let product = format!(
        r#"{{"openapi": "3.0.0", "components": {{"securitySchemes": {{"k": {{"type": "apiKey", "in": "header", "name": "K"}}}}}},
            "security": [{options}], "paths": {{{}}}}}"#,
        paths.join(",")
    );
    let err = refused(&product).unwrap_err();
    assert!(err.to_string().contains("200000"), "{err}");
    // The same document with 400 paths lists 80,400 entries: within the bound.
    let fewer = product.replacen(&paths[400..].join(","), r#""/last": {"get": {}}"#, 1);
    assert_eq!(refused(&fewer).unwrap().len(), 401);
    // Parameters that replace one another are found without a search per parameter: an
    // operation's own replaces the path's of the same name and place, in its own position.
    let replaced = r#"{"openapi": "3.0.0", "paths": {"/a/{id}": {
        "parameters": [{"name": "id", "in": "path"}, {"name": "q", "in": "query", "description": "path's"}],
        "get": {"parameters": [{"name": "q", "in": "query", "description": "own"}, {"name": "q", "in": "header"}]}}}}"#;
    let listed = refused(replaced).unwrap();
    let described: Vec<(&str, &str, Option<&str>)> = listed[0]
        .parameters
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.location.as_str(),
                p.description.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("id", "path", None),
            ("q", "query", Some("own")),
            ("q", "header", None)
        ]
    );
    let huge = vec![b' '; MAX_DOCUMENT_BYTES + 1];
    assert_eq!(
        Document::parse(&huge).unwrap_err(),
        OpenApiError::TooLarge {
            limit: MAX_DOCUMENT_BYTES
        }
    );
}

#[test]
fn random_documents_never_panic() {
    // A fuzz loop over mutations of the fixtures: any answer but a panic is fine.
    let mut rng = keyway_testkit::fuzz::Rng(0x9E37_79B9_7F4A_7C15);
    let seeds: Vec<Vec<u8>> = [
        "petstore-swagger2.json",
        "payments-openapi30.json",
        "calendar-openapi31.json",
        "helpdesk-openapi30.yaml",
    ]
    .iter()
    .map(|n| std::fs::read(format!("{}/tests/fixtures/{n}", env!("CARGO_MANIFEST_DIR"))).unwrap())
    .collect();
    for round in 0..3000 {
        let mut doc = seeds[round % seeds.len()].clone();
        for _ in 0..(1 + rng.below(8)) {
            let at = rng.below(doc.len());
            match rng.below(3) {
                0 if !doc.is_empty() => doc[at] = b"{}[]\":,$#/ref0a&*-\n "[rng.below(19)],
                1 if !doc.is_empty() => {
                    doc.remove(at);
                }
                _ => doc.insert(at, b"{}[]\"$ref#/"[rng.below(11)]),
            }
        }
        if let Ok(document) = Document::parse(&doc) {
            for op in document.operations().unwrap_or_default() {
                let _ = document.build(
                    &keyway_openapi::Selector::Id(op.id),
                    Some("https://h.example"),
                );
            }
        }
    }
}

fn document(name: &str) -> Document {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    Document::parse(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_request_built_from_an_operation() {
    use keyway_openapi::Selector;
    let payments = document("payments-openapi30.json");
    let one = payments
        .build(
            &Selector::Id("GetCustomersCustomer".into()),
            Some("http://127.0.0.1:9/"),
        )
        .unwrap();
    assert_eq!(
        (one.method.as_str(), one.url.as_str()),
        ("GET", "http://127.0.0.1:9/v1/customers/${customer}")
    );
    assert_eq!(one.placeholders[0].from, "path parameter `customer`");
    assert_eq!(
        one.left_out,
        ["optional header parameter `Idempotency-Key`"]
    );
    let bearer = one.credential.unwrap();
    assert_eq!(
        (
            bearer.kind.as_str(),
            bearer.header_name.as_deref(),
            bearer.prefix.as_deref()
        ),
        ("api_key", Some("Authorization"), Some("Bearer "))
    );
    let list = payments
        .build(
            &Selector::MethodPath {
                method: "get".into(),
                path: "/v1/customers".into(),
            },
            None,
        )
        .unwrap();
    assert_eq!(
        list.url,
        "https://api.payments.example.com/v1/customers?email=${email}"
    );
    assert!(list
        .left_out
        .contains(&"optional query parameter `limit`".to_owned()));
    let create = payments
        .build(&Selector::Id("PostCustomers".into()), None)
        .unwrap();
    assert_eq!(
        (
            create.content_type.as_deref(),
            create.credential.unwrap().kind.as_str()
        ),
        (Some("urlencoded"), "basic")
    );

    let calendar = document("calendar-openapi31.json");
    let import = calendar
        .build(&Selector::Id("events.import".into()), None)
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(import.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"summary": "${summary}", "start": {"dateTime": "${start.dateTime}"}})
    );
    assert_eq!(
        import.content_type.as_deref(),
        Some("json"),
        "JSON is preferred over XML"
    );
    assert!(import
        .left_out
        .contains(&"optional field `start.timeZone`".to_owned()));
    assert!(import
        .headers
        .contains(&("Accept".to_owned(), "application/json".to_owned())));
    let key = import.credential.unwrap();
    assert_eq!(
        (key.kind.as_str(), key.query_param.as_deref()),
        ("api_key", Some("key"))
    );
    let oauth = calendar
        .build(&Selector::Id("events.list".into()), None)
        .unwrap()
        .credential
        .unwrap();
    assert_eq!(
        (oauth.kind.as_str(), oauth.token_url.as_deref()),
        ("oauth2", Some("https://oauth2.example.com/token"))
    );
    assert_eq!(oauth.scopes, ["calendar.readonly"]);
    let refused = calendar
        .build(&Selector::Id("attachments.upload".into()), None)
        .unwrap_err();
    assert_eq!(refused.code(), "unsupported_content_type");
    assert!(refused.to_string().contains("multipart/form-data"));

    let helpdesk = document("helpdesk-openapi30.yaml");
    let ticket = helpdesk
        .build(&Selector::Id("createTicket".into()), None)
        .unwrap();
    assert_eq!(
        ticket.url,
        "https://${subdomain}.helpdesk.example.com/api/v2/tickets"
    );
    assert_eq!(
        (ticket.content_type.as_deref(), ticket.body.as_deref()),
        (Some("xml"), Some("<request></request>"))
    );
    assert!(helpdesk.build(&Selector::Id("nope".into()), None).is_err());
    assert!(helpdesk
        .build(&Selector::Id("createTicket".into()), Some("/relative"))
        .is_err());

    let petstore = document("petstore-swagger2.json");
    let add = petstore
        .build(&Selector::Id("addPet".into()), None)
        .unwrap();
    assert_eq!(
        (add.body.as_deref(), add.content_type.as_deref()),
        (Some("{}"), Some("json"))
    );
    assert_eq!(add.left_out, ["optional field `name`"]);
    assert_eq!(add.credential.unwrap().kind, "oauth2");
}

#[test]
fn swagger_2_yaml_with_a_key_in_the_query_and_a_schema_that_refers_to_itself() {
    use keyway_openapi::Selector;
    let weather = document("weather-swagger2.yaml");
    let current = weather
        .build(&Selector::Id("currentWeather".into()), None)
        .unwrap();
    assert_eq!(
        current.url,
        "https://api.weather.example.com/data/2.5/weather?q=${q}"
    );
    assert_eq!(current.left_out, ["optional query parameter `units`"]);
    assert!(current
        .headers
        .contains(&("Accept".to_owned(), "application/json".to_owned())));
    let key = current.credential.unwrap();
    assert_eq!(
        (key.kind.as_str(), key.query_param.as_deref()),
        ("api_key", Some("appid"))
    );
    let alert = weather
        .build(&Selector::Id("createAlert".into()), None)
        .unwrap();
    assert_eq!(alert.content_type.as_deref(), Some("urlencoded"));
    // A region's parent is a region: the skeleton stops at its depth limit instead of looping.
    let region = weather
        .build(&Selector::Id("createRegion".into()), None)
        .unwrap();
    let body = region.body.unwrap();
    assert!(
        body.starts_with(r#"{"name":"${name}","parent":{"name":"${parent.name}""#),
        "{body}"
    );
    assert!(body.len() < 4096, "{body}");
}

#[test]
fn a_document_of_almost_16_mib_is_read() {
    let mut text = String::from(
        r#"{"openapi": "3.0.0", "info": {"title": "big", "version": "1"}, "paths": {"#,
    );
    let mut n = 0;
    while text.len() < keyway_openapi::MAX_DOCUMENT_BYTES - 1024 {
        if n > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            r#""/things/{n}/{{id}}": {{"get": {{"operationId": "get{n}", "summary": "{pad}", "parameters": [{{"name": "id", "in": "path", "required": true}}]}}}}"#,
            pad = "x".repeat(200)
        ));
        n += 1;
    }
    text.push_str("}}");
    assert!(text.len() <= keyway_openapi::MAX_DOCUMENT_BYTES);
    // How fast is the benchmark's business (benches/github.rs); this checks it is read whole.
    let operations = Document::parse(text.as_bytes())
        .unwrap()
        .operations()
        .unwrap();
    assert_eq!(operations.len(), n);
}

/// A body schema whose required properties refer back to it: every level multiplies the
/// fields. Six of them over eight levels were 1.7 million placeholders (twenty, billions)
/// built on the request's worker from a document of a few hundred bytes; now the skeleton
/// stops at 512 required fields with a clear refusal. Repeated names in `required` count once.
#[test]
fn a_body_schema_that_multiplies_itself_is_refused() {
    let schema = |required: Vec<String>| {
        let properties: serde_json::Map<String, serde_json::Value> = required
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    serde_json::json!({"$ref": "#/components/schemas/S"}),
                )
            })
            .collect();
        serde_json::json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "servers": [{"url": "https://api.example.com"}],
            "paths": {"/s": {"post": {"operationId": "make",
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S"}}}},
                "responses": {"200": {"description": "ok"}}}}},
            "components": {"schemas": {"S": {"type": "object", "required": required, "properties": properties}}},
        })
        .to_string()
    };
    let build = |text: String| {
        Document::parse(text.as_bytes())
            .unwrap()
            .build(&keyway_openapi::Selector::Id("make".into()), None)
    };
    let six = (0..6).map(|n| format!("f{n}")).collect();
    let started = std::time::Instant::now();
    match build(schema(six)) {
        Err(OpenApiError::Invalid { at, message }) => {
            assert_eq!(at, "requestBody.schema");
            assert!(message.contains("512"), "{message}");
        }
        other => panic!("refused: {:?}", other.map(|b| b.placeholders.len())),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // The same name required 600 times is one field, then its own object's, and so on.
    let built = build(schema(vec!["a".to_owned(); 600])).unwrap();
    assert_eq!(built.placeholders.len(), 1, "{:?}", built.placeholders);
}
