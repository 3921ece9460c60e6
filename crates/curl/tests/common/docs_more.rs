//! More curl commands as API docs publish them.

use super::{case, Case};

pub fn cases() -> Vec<Case> {
    vec![
        case(
            "docs/cloudflare verify token",
            r#"curl "https://api.cloudflare.com/client/v4/user/tokens/verify" \
     -H "Authorization: Bearer <API_TOKEN>""#,
        )
        .ok("GET", "https://api.cloudflare.com/client/v4/user/tokens/verify")
        .h("Authorization", "Bearer <API_TOKEN>"),
        case(
            "docs/cloudflare create DNS record with --json",
            r#"curl https://api.cloudflare.com/client/v4/zones/$ZONE_ID/dns_records \
    --request POST \
    --header "X-Auth-Email: $CLOUDFLARE_EMAIL" \
    --header "X-Auth-Key: $CLOUDFLARE_API_KEY" \
    --json '{
      "type": "A",
      "name": "example.com",
      "content": "198.51.100.4",
      "ttl": 3600,
      "proxied": false
    }'"#,
        )
        .ok("POST", "https://api.cloudflare.com/client/v4/zones/$ZONE_ID/dns_records")
        .h("X-Auth-Email", "$CLOUDFLARE_EMAIL")
        .h("X-Auth-Key", "$CLOUDFLARE_API_KEY")
        .h("Accept", "application/json")
        .json("{\n      \"type\": \"A\",\n      \"name\": \"example.com\",\n      \"content\": \"198.51.100.4\",\n      \"ttl\": 3600,\n      \"proxied\": false\n    }")
        .warns("shell variables (the first at position 48)"),
        case(
            "docs/microsoft graph me",
            r#"curl -X GET https://graph.microsoft.com/v1.0/me -H "Authorization: Bearer {token}""#,
        )
        .ok("GET", "https://graph.microsoft.com/v1.0/me")
        .h("Authorization", "Bearer {token}"),
        case(
            "docs/microsoft identity client credentials",
            "curl -X POST -H \"Content-Type: application/x-www-form-urlencoded\" -d 'client_id=535fb089-9ff3-47b6-9bfb-4f1264799865&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_secret=qWgdYAmab0YSkuL1qKv5bPX&grant_type=client_credentials' 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token'",
        )
        .ok("POST", "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
        .h("Content-Type", "application/x-www-form-urlencoded")
        .form("client_id=535fb089-9ff3-47b6-9bfb-4f1264799865&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_secret=qWgdYAmab0YSkuL1qKv5bPX&grant_type=client_credentials"),
        case(
            "docs/google translate with -d @request.json",
            r#"curl -X POST \
     -H "Authorization: Bearer $(gcloud auth print-access-token)" \
     -H "Content-Type: application/json; charset=utf-8" \
     -d @request.json \
     "https://translation.googleapis.com/language/translate/v2""#,
        )
        .invalid("@request.json", "reads a file"),
        case(
            "docs/servicenow table API ('admin':'admin')",
            r#"curl "https://instance.service-now.com/api/now/table/incident?sysparm_limit=1" \
--request GET \
--header "Accept:application/json" \
--user 'admin':'admin'"#,
        )
        .ok("GET", "https://instance.service-now.com/api/now/table/incident?sysparm_limit=1")
        .h("Authorization", "Basic YWRtaW46YWRtaW4=")
        .h("Accept", "application/json")
        .warns("--user puts a password"),
        case(
            "docs/datadog validate key",
            r#"curl -X GET "https://api.datadoghq.com/api/v1/validate" \
-H "Accept: application/json" \
-H "DD-API-KEY: ${DD_API_KEY}""#,
        )
        .ok("GET", "https://api.datadoghq.com/api/v1/validate")
        .h("Accept", "application/json")
        .h("DD-API-KEY", "${DD_API_KEY}")
        .warns("shell variables"),
        case(
            "docs/postman export (--location)",
            r#"curl --location 'https://api.example.com/v1/orders' \
--header 'Content-Type: application/json' \
--data '{"item":"book"}'"#,
        )
        .unsupported(&["--location"]),
        case(
            "docs/twitter via postman (--location dropped, --data-raw)",
            r#"curl --location --request POST 'https://api.twitter.com/2/tweets' \
--header 'Content-Type: application/json' \
--header 'Authorization: Bearer AAAAAAAAAAAAAAAAAAAAA' \
--data-raw '{"text": "Hello world!"}'"#,
        )
        .ok("POST", "https://api.twitter.com/2/tweets")
        .h("Content-Type", "application/json")
        .h("Authorization", "Bearer AAAAAAAAAAAAAAAAAAAAA")
        .json(r#"{"text": "Hello world!"}"#)
        .dropped(&["--location"]),
        case(
            "docs/notion query database ('Bearer '\"$KEY\"'')",
            r#"curl -X POST 'https://api.notion.com/v1/databases/897e5a76ae524b489fdfe71f5945d1af/query' \
  -H 'Authorization: Bearer '"$NOTION_API_KEY"'' \
  -H 'Notion-Version: 2022-06-28' \
  -H "Content-Type: application/json" \
--data '{
  "filter": {
    "property": "Landmark",
    "rich_text": {
      "contains": "Bridge"
    }
  }
}'"#,
        )
        .ok("POST", "https://api.notion.com/v1/databases/897e5a76ae524b489fdfe71f5945d1af/query")
        .h("Authorization", "Bearer $NOTION_API_KEY")
        .h("Notion-Version", "2022-06-28")
        .h("Content-Type", "application/json")
        .json("{\n  \"filter\": {\n    \"property\": \"Landmark\",\n    \"rich_text\": {\n      \"contains\": \"Bridge\"\n    }\n  }\n}")
        .warns("shell variables"),
        case(
            "docs/airtable list records",
            r#"curl "https://api.airtable.com/v0/appXXXXXXXXXXXXXX/Table%201?maxRecords=3&view=Grid%20view" \
  -H "Authorization: Bearer YOUR_SECRET_API_TOKEN""#,
        )
        .ok("GET", "https://api.airtable.com/v0/appXXXXXXXXXXXXXX/Table%201?maxRecords=3&view=Grid%20view")
        .h("Authorization", "Bearer YOUR_SECRET_API_TOKEN"),
        case(
            "docs/google geocoding (-L)",
            "curl -L -X GET 'https://maps.googleapis.com/maps/api/geocode/json?address=1600+Amphitheatre+Parkway,+Mountain+View,+CA&key=YOUR_API_KEY'",
        )
        .unsupported(&["-L"]),
        case(
            "docs/box folder (-i)",
            r#"curl -i -X GET "https://api.box.com/2.0/folders/0" \
     -H "Authorization: Bearer <ACCESS_TOKEN>""#,
        )
        .unsupported(&["-i"]),
        case(
            "docs/dropbox list folder (escaped double quotes)",
            r#"curl -X POST https://api.dropboxapi.com/2/files/list_folder \
    --header "Authorization: Bearer <get access token>" \
    --header "Content-Type: application/json" \
    --data "{\"path\": \"/Homework/math\",\"recursive\": false}""#,
        )
        .ok("POST", "https://api.dropboxapi.com/2/files/list_folder")
        .h("Authorization", "Bearer <get access token>")
        .h("Content-Type", "application/json")
        .json(r#"{"path": "/Homework/math","recursive": false}"#),
        case(
            "docs/dropbox upload (--data-binary @file)",
            r#"curl -X POST https://content.dropboxapi.com/2/files/upload \
    --header "Authorization: Bearer <get access token>" \
    --header "Dropbox-API-Arg: {\"path\": \"/Homework/math/Matrices.txt\"}" \
    --header "Content-Type: application/octet-stream" \
    --data-binary @Matrices.txt"#,
        )
        .invalid("@Matrices.txt", "reads a file"),
        case(
            "docs/zendesk create ticket (-v dropped, options after the data)",
            r#"curl https://{subdomain}.zendesk.com/api/v2/tickets.json \
  -d '{"ticket": {"subject": "My printer is on fire!", "comment": { "body": "The smoke is very colorful." }}}' \
  -H "Content-Type: application/json" -v -u {email_address}/token:{api_token} -X POST"#,
        )
        .ok("POST", "https://{subdomain}.zendesk.com/api/v2/tickets.json")
        .h("Authorization", "Basic e2VtYWlsX2FkZHJlc3N9L3Rva2VuOnthcGlfdG9rZW59")
        .h("Content-Type", "application/json")
        .json(r#"{"ticket": {"subject": "My printer is on fire!", "comment": { "body": "The smoke is very colorful." }}}"#)
        .dropped(&["-v"])
        .warns("-u puts a password"),
        case(
            "docs/square list locations",
            r#"curl https://connect.squareupsandbox.com/v2/locations \
  -H 'Square-Version: 2024-07-17' \
  -H 'Authorization: Bearer ACCESS_TOKEN' \
  -H 'Content-Type: application/json'"#,
        )
        .ok("GET", "https://connect.squareupsandbox.com/v2/locations")
        .h("Square-Version", "2024-07-17")
        .h("Authorization", "Bearer ACCESS_TOKEN")
        .h("Content-Type", "application/json"),
        case(
            "docs/trello create card (POST without body)",
            r#"curl --request POST \
  --url 'https://api.trello.com/1/cards?idList=5abbe4b7ddc1b351ef961414&key=APIKey&token=APIToken' \
  --header 'Accept: application/json'"#,
        )
        .ok("POST", "https://api.trello.com/1/cards?idList=5abbe4b7ddc1b351ef961414&key=APIKey&token=APIToken")
        .h("Accept", "application/json"),
        case(
            "docs/asana me",
            r#"curl -X GET https://app.asana.com/api/1.0/users/me \
  -H 'Accept: application/json' \
  -H 'Authorization: Bearer {access-token}'"#,
        )
        .ok("GET", "https://app.asana.com/api/1.0/users/me")
        .h("Accept", "application/json")
        .h("Authorization", "Bearer {access-token}"),
        case(
            "docs/gitlab list projects",
            r#"curl --header "PRIVATE-TOKEN: <your_access_token>" "https://gitlab.example.com/api/v4/projects""#,
        )
        .ok("GET", "https://gitlab.example.com/api/v4/projects")
        .h("PRIVATE-TOKEN", "<your_access_token>"),
        case(
            "docs/gitlab create project (--url after the data)",
            r#"curl --request POST --header "PRIVATE-TOKEN: <your-token>" \
     --header "Content-Type: application/json" --data '{
        "name": "new_project", "description": "New Project", "path": "new_project",
        "namespace_id": "42", "initialize_with_readme": "true"}' \
     --url "https://gitlab.example.com/api/v4/projects/""#,
        )
        .ok("POST", "https://gitlab.example.com/api/v4/projects/")
        .h("PRIVATE-TOKEN", "<your-token>")
        .h("Content-Type", "application/json")
        .json("{\n        \"name\": \"new_project\", \"description\": \"New Project\", \"path\": \"new_project\",\n        \"namespace_id\": \"42\", \"initialize_with_readme\": \"true\"}"),
        case(
            "docs/gitlab edit project",
            r#"curl --request PUT --header "PRIVATE-TOKEN: <your_access_token>" \
     --url "https://gitlab.example.com/api/v4/projects/5?name=new_name""#,
        )
        .ok("PUT", "https://gitlab.example.com/api/v4/projects/5?name=new_name")
        .h("PRIVATE-TOKEN", "<your_access_token>"),
        case(
            "docs/paypal token (\"\\ without a space, -v dropped)",
            r#"curl -v -X POST "https://api-m.sandbox.paypal.com/v1/oauth2/token"\
 -u "CLIENT_ID:CLIENT_SECRET"\
 -H "Content-Type: application/x-www-form-urlencoded"\
 -d "grant_type=client_credentials""#,
        )
        .ok("POST", "https://api-m.sandbox.paypal.com/v1/oauth2/token")
        .h("Authorization", "Basic Q0xJRU5UX0lEOkNMSUVOVF9TRUNSRVQ=")
        .h("Content-Type", "application/x-www-form-urlencoded")
        .form("grant_type=client_credentials")
        .dropped(&["-v"])
        .warns("-u puts a password"),
        case(
            "docs/bitbucket repositories",
            r#"curl --request GET \
  --url 'https://api.bitbucket.org/2.0/repositories/{workspace}' \
  --header 'Authorization: Bearer <access_token>' \
  --header 'Accept: application/json'"#,
        )
        .ok("GET", "https://api.bitbucket.org/2.0/repositories/{workspace}")
        .h("Authorization", "Bearer <access_token>")
        .h("Accept", "application/json"),
    ]
}
