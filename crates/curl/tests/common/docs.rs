//! curl commands as API docs publish them (their quoting, line breaks and placeholders), with
//! the request curl would send for each.

use super::{case, Case};

const BASIC_JIRA: &str = "Basic ZW1haWxAZXhhbXBsZS5jb206PGFwaV90b2tlbj4="; // email@example.com:<api_token>
const BASIC_STRIPE: &str = "Basic c2tfdGVzdF80ZUMzOUhxTHlqV0Rhcmp0VDF6ZHA3ZGM6"; // sk_test_...:
const BASIC_TWILIO: &str = "Basic JFRXSUxJT19BQ0NPVU5UX1NJRDokVFdJTElPX0FVVEhfVE9LRU4="; // $SID:$TOKEN
const BASIC_CLIENT: &str = "Basic Q0xJRU5UX0lEOkNMSUVOVF9TRUNSRVQ="; // CLIENT_ID:CLIENT_SECRET
const SF: &str = "https://MyDomainName.my.salesforce.com/services/data/v60.0";

pub fn cases() -> Vec<Case> {
    let mut v = vec![];
    v.extend(salesforce());
    v.extend(jira_zoom());
    v.extend(stripe_github());
    v.extend(slack_twilio_qualtrics());
    v.extend(others());
    v
}

fn salesforce() -> Vec<Case> {
    vec![
        case(
            "docs/salesforce query",
            r#"curl https://MyDomainName.my.salesforce.com/services/data/v60.0/query/?q=SELECT+name+from+Account -H "Authorization: Bearer token""#,
        )
        .ok("GET", format!("{SF}/query/?q=SELECT+name+from+Account"))
        .h("Authorization", "Bearer token"),
        case(
            "docs/salesforce create from file",
            r#"curl https://MyDomainName.my.salesforce.com/services/data/v60.0/sobjects/Account/ -H "Authorization: Bearer token" -H "Content-Type: application/json" -d "@newaccount.json""#,
        )
        .invalid(r#""@newaccount.json""#, "reads a file"),
        case(
            "docs/salesforce create literal",
            r#"curl https://MyDomainName.my.salesforce.com/services/data/v60.0/sobjects/Account/ -H "Authorization: Bearer token" -H "Content-Type: application/json" -d '{"Name" : "Express Logistics and Transport"}'"#,
        )
        .ok("POST", format!("{SF}/sobjects/Account/"))
        .h("Authorization", "Bearer token")
        .h("Content-Type", "application/json")
        .json(r#"{"Name" : "Express Logistics and Transport"}"#),
        case(
            "docs/salesforce update with -X PATCH last",
            r#"curl https://MyDomainName.my.salesforce.com/services/data/v60.0/sobjects/Account/001D000000INjVe -H "Authorization: Bearer token" -H "Content-Type: application/json" -d '{"BillingCity" : "San Francisco"}' -X PATCH"#,
        )
        .ok("PATCH", format!("{SF}/sobjects/Account/001D000000INjVe"))
        .h("Authorization", "Bearer token")
        .h("Content-Type", "application/json")
        .json(r#"{"BillingCity" : "San Francisco"}"#),
        case(
            "docs/salesforce delete",
            r#"curl https://MyDomainName.my.salesforce.com/services/data/v60.0/sobjects/Account/001D000000INjVe -H "Authorization: Bearer token" -X DELETE"#,
        )
        .ok("DELETE", format!("{SF}/sobjects/Account/001D000000INjVe"))
        .h("Authorization", "Bearer token"),
        case(
            "docs/salesforce resources with X-PrettyPrint",
            r#"curl https://MyDomainName.my.salesforce.com/services/data/v60.0/ -H "Authorization: Bearer access_token" -H "X-PrettyPrint:1""#,
        )
        .ok("GET", format!("{SF}/"))
        .h("Authorization", "Bearer access_token")
        .h("X-PrettyPrint", "1"),
        case(
            "docs/salesforce username-password token",
            r#"curl https://login.salesforce.com/services/oauth2/token -d "grant_type=password" -d "client_id=myclientid" -d "client_secret=myclientsecret" -d "username=mylogin@salesforce.com" -d "password=mypassword123456""#,
        )
        .ok("POST", "https://login.salesforce.com/services/oauth2/token")
        .form("grant_type=password&client_id=myclientid&client_secret=myclientsecret&username=mylogin@salesforce.com&password=mypassword123456"),
    ]
}

fn jira_zoom() -> Vec<Case> {
    vec![
        case(
            "docs/jira create issue",
            r#"curl --request POST \
  --url 'https://your-domain.atlassian.net/rest/api/3/issue' \
  --user 'email@example.com:<api_token>' \
  --header 'Accept: application/json' \
  --header 'Content-Type: application/json' \
  --data '{
  "fields": {
    "project": {
      "key": "SCRUM"
    },
    "summary": "Something is wrong",
    "issuetype": {
      "name": "Bug"
    }
  }
}'"#,
        )
        .ok("POST", "https://your-domain.atlassian.net/rest/api/3/issue")
        .h("Authorization", BASIC_JIRA)
        .h("Accept", "application/json")
        .h("Content-Type", "application/json")
        .json("{\n  \"fields\": {\n    \"project\": {\n      \"key\": \"SCRUM\"\n    },\n    \"summary\": \"Something is wrong\",\n    \"issuetype\": {\n      \"name\": \"Bug\"\n    }\n  }\n}")
        .warns("--user puts a password"),
        case(
            "docs/jira get issue",
            r#"curl --request GET \
  --url 'https://your-domain.atlassian.net/rest/api/3/issue/{issueIdOrKey}' \
  --user 'email@example.com:<api_token>' \
  --header 'Accept: application/json'"#,
        )
        .ok("GET", "https://your-domain.atlassian.net/rest/api/3/issue/{issueIdOrKey}")
        .h("Authorization", BASIC_JIRA)
        .h("Accept", "application/json")
        .warns("--user puts a password"),
        case(
            "docs/jira search",
            r#"curl --request GET \
  --url 'https://your-domain.atlassian.net/rest/api/3/search?jql=project%20%3D%20HSP' \
  --user 'email@example.com:<api_token>' \
  --header 'Accept: application/json'"#,
        )
        .ok("GET", "https://your-domain.atlassian.net/rest/api/3/search?jql=project%20%3D%20HSP")
        .h("Authorization", BASIC_JIRA)
        .h("Accept", "application/json")
        .warns("--user puts a password"),
        case(
            "docs/jira v2 with -D- (dump headers)",
            r#"curl -D- -u fred@example.com:freds_api_token -X GET -H "Content-Type: application/json" https://your-domain.atlassian.net/rest/api/2/search?jql=assignee=fred"#,
        )
        .unsupported(&["-D"]),
        case(
            "docs/jira v2 with -D- dropped",
            r#"curl -D- -u fred@example.com:freds_api_token -X GET -H "Content-Type: application/json" https://your-domain.atlassian.net/rest/api/2/search?jql=assignee=fred"#,
        )
        .ok("GET", "https://your-domain.atlassian.net/rest/api/2/search?jql=assignee=fred")
        .h("Authorization", "Basic ZnJlZEBleGFtcGxlLmNvbTpmcmVkc19hcGlfdG9rZW4=")
        .h("Content-Type", "application/json")
        .dropped(&["-D"])
        .warns("-u puts a password"),
        case(
            "docs/zoom create meeting",
            r#"curl --request POST \
  --url https://api.zoom.us/v2/users/me/meetings \
  --header 'authorization: Bearer xxx' \
  --header 'content-type: application/json' \
  --data '{"topic":"My Meeting","type":2,"start_time":"2024-05-01T10:00:00Z","duration":30}'"#,
        )
        .ok("POST", "https://api.zoom.us/v2/users/me/meetings")
        .h("authorization", "Bearer xxx")
        .h("content-type", "application/json")
        .json(r#"{"topic":"My Meeting","type":2,"start_time":"2024-05-01T10:00:00Z","duration":30}"#),
        case(
            "docs/zoom list users",
            r#"curl --request GET \
  --url 'https://api.zoom.us/v2/users?status=active&page_size=30' \
  --header 'authorization: Bearer xxx'"#,
        )
        .ok("GET", "https://api.zoom.us/v2/users?status=active&page_size=30")
        .h("authorization", "Bearer xxx"),
        case(
            "docs/zoom server-to-server token",
            r#"curl -X POST https://zoom.us/oauth/token -d 'grant_type=account_credentials' -d 'account_id={accountID}' -H 'Host: zoom.us' -H 'Authorization: Basic Base64Encoded(clientId:clientSecret)'"#,
        )
        .ok("POST", "https://zoom.us/oauth/token")
        // Keyway sets Host from the URL: the docs' own one is left out, with a word.
        .h("Authorization", "Basic Base64Encoded(clientId:clientSecret)")
        .form("grant_type=account_credentials&account_id={accountID}")
        .warns("the Host header is left out"),
        case(
            "docs/zoom authorization code token with -u",
            r#"curl -X POST https://zoom.us/oauth/token \
  -u 'CLIENT_ID:CLIENT_SECRET' \
  -d 'grant_type=authorization_code' \
  -d 'code=AUTHORIZATION_CODE' \
  -d 'redirect_uri=https://example.com/oauth/callback'"#,
        )
        .ok("POST", "https://zoom.us/oauth/token")
        .h("Authorization", BASIC_CLIENT)
        .form("grant_type=authorization_code&code=AUTHORIZATION_CODE&redirect_uri=https://example.com/oauth/callback")
        .warns("-u puts a password"),
    ]
}

fn stripe_github() -> Vec<Case> {
    let gh_headers = |c: Case| {
        c.h("Accept", "application/vnd.github+json")
            .h("Authorization", "Bearer <YOUR-TOKEN>")
            .h("X-GitHub-Api-Version", "2022-11-28")
    };
    let gh_list = r#"curl -L \
  -H "Accept: application/vnd.github+json" \
  -H "Authorization: Bearer <YOUR-TOKEN>" \
  -H "X-GitHub-Api-Version: 2022-11-28" \
  https://api.github.com/repos/OWNER/REPO/issues"#;
    vec![
        case(
            "docs/stripe create charge",
            r#"curl https://api.stripe.com/v1/charges \
  -u sk_test_4eC39HqLyjWDarjtT1zdp7dc: \
  -d amount=2000 \
  -d currency=usd \
  -d source=tok_visa \
  -d "description=My First Test Charge (created for API docs)""#,
        )
        .ok("POST", "https://api.stripe.com/v1/charges")
        .h("Authorization", BASIC_STRIPE)
        .form("amount=2000&currency=usd&source=tok_visa&description=My First Test Charge (created for API docs)")
        .warns("-u puts a password"),
        case(
            "docs/stripe list with -G",
            r#"curl -G https://api.stripe.com/v1/charges \
  -u sk_test_4eC39HqLyjWDarjtT1zdp7dc: \
  -d limit=3"#,
        )
        .ok("GET", "https://api.stripe.com/v1/charges?limit=3")
        .h("Authorization", BASIC_STRIPE)
        .warns("-u puts a password"),
        case(
            "docs/stripe metadata (quoted name, unquoted value)",
            r#"curl https://api.stripe.com/v1/customers \
  -u sk_test_4eC39HqLyjWDarjtT1zdp7dc: \
  -d "metadata[order_id]"=6735"#,
        )
        .ok("POST", "https://api.stripe.com/v1/customers")
        .h("Authorization", BASIC_STRIPE)
        .form("metadata[order_id]=6735")
        .warns("-u puts a password"),
        case(
            "docs/stripe create customer with --data-urlencode",
            r#"curl https://api.stripe.com/v1/customers \
  -u "sk_test_4eC39HqLyjWDarjtT1zdp7dc:" \
  -d name="Jenny Rosen" \
  --data-urlencode email="jennyrosen@example.com""#,
        )
        .ok("POST", "https://api.stripe.com/v1/customers")
        .h("Authorization", BASIC_STRIPE)
        .form("name=Jenny Rosen&email=jennyrosen%40example.com")
        .warns("-u puts a password"),
        case(
            "docs/stripe retrieve customer",
            r#"curl https://api.stripe.com/v1/customers/cus_NffrFeUfNV2Hib \
  -u "sk_test_4eC39HqLyjWDarjtT1zdp7dc:""#,
        )
        .ok("GET", "https://api.stripe.com/v1/customers/cus_NffrFeUfNV2Hib")
        .h("Authorization", BASIC_STRIPE)
        .warns("-u puts a password"),
        case(
            "docs/stripe delete customer",
            r#"curl -X DELETE https://api.stripe.com/v1/customers/cus_NffrFeUfNV2Hib \
  -u "sk_test_4eC39HqLyjWDarjtT1zdp7dc:""#,
        )
        .ok("DELETE", "https://api.stripe.com/v1/customers/cus_NffrFeUfNV2Hib")
        .h("Authorization", BASIC_STRIPE)
        .warns("-u puts a password"),
        case(
            "docs/stripe payment intent",
            r#"curl https://api.stripe.com/v1/payment_intents \
  -u "sk_test_4eC39HqLyjWDarjtT1zdp7dc:" \
  -d amount=2000 \
  -d currency=usd \
  -d "automatic_payment_methods[enabled]"=true"#,
        )
        .ok("POST", "https://api.stripe.com/v1/payment_intents")
        .h("Authorization", BASIC_STRIPE)
        .form("amount=2000&currency=usd&automatic_payment_methods[enabled]=true")
        .warns("-u puts a password"),
        case(
            "docs/stripe idempotency key",
            r#"curl https://api.stripe.com/v1/customers \
  -u sk_test_4eC39HqLyjWDarjtT1zdp7dc: \
  -H "Idempotency-Key: KG5LxwFBepaKHyUD" \
  -d description="My First Test Customer""#,
        )
        .ok("POST", "https://api.stripe.com/v1/customers")
        .h("Authorization", BASIC_STRIPE)
        .h("Idempotency-Key", "KG5LxwFBepaKHyUD")
        .form("description=My First Test Customer")
        .warns("-u puts a password"),
        case("docs/github list issues", gh_list).unsupported(&["-L"]),
        gh_headers(
            case("docs/github list issues, -L dropped", gh_list)
                .ok("GET", "https://api.github.com/repos/OWNER/REPO/issues"),
        )
        .dropped(&["-L"]),
        gh_headers(
            case(
                "docs/github create issue ('\\'' quoting, no content type)",
                r#"curl -L \
  -X POST \
  -H "Accept: application/vnd.github+json" \
  -H "Authorization: Bearer <YOUR-TOKEN>" \
  -H "X-GitHub-Api-Version: 2022-11-28" \
  https://api.github.com/repos/OWNER/REPO/issues \
  -d '{"title":"Found a bug","body":"I'\''m having a problem with this.","assignees":["octocat"],"milestone":1,"labels":["bug"]}'"#,
            )
            .ok("POST", "https://api.github.com/repos/OWNER/REPO/issues"),
        )
        .form(r#"{"title":"Found a bug","body":"I'm having a problem with this.","assignees":["octocat"],"milestone":1,"labels":["bug"]}"#)
        .dropped(&["-L"]),
        case(
            "docs/github token header",
            r#"curl -H "Authorization: token OAUTH-TOKEN" https://api.github.com/user"#,
        )
        .ok("GET", "https://api.github.com/user")
        .h("Authorization", "token OAUTH-TOKEN"),
        case(
            "docs/github include response headers",
            "curl -i https://api.github.com/users/octocat/orgs",
        )
        .unsupported(&["-i"]),
        case(
            "docs/github basic auth",
            "curl -u username:token https://api.github.com/user",
        )
        .ok("GET", "https://api.github.com/user")
        .h("Authorization", "Basic dXNlcm5hbWU6dG9rZW4=")
        .warns("-u puts a password"),
        case(
            "docs/github graphql (continuations inside double quotes)",
            r#"curl -H "Authorization: bearer token" -X POST -d " \
 { \
   \"query\": \"query { viewer { login }}\" \
 } \
" https://api.github.com/graphql"#,
        )
        .ok("POST", "https://api.github.com/graphql")
        .h("Authorization", "bearer token")
        .form(r#"  {    "query": "query { viewer { login }}"  } "#),
    ]
}

fn slack_twilio_qualtrics() -> Vec<Case> {
    let q = "https://yourdatacenterid.qualtrics.com";
    let twilio = "https://api.twilio.com/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID";
    vec![
        case(
            "docs/slack incoming webhook",
            r#"curl -X POST -H 'Content-type: application/json' --data '{"text":"Hello, World!"}' https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"#,
        )
        .ok("POST", "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX")
        .h("Content-type", "application/json")
        .json(r#"{"text":"Hello, World!"}"#),
        case(
            "docs/slack chat.postMessage",
            r#"curl -X POST -H 'Authorization: Bearer xoxb-1234-56789abcdefghijklmnop' \
-H 'Content-type: application/json; charset=utf-8' \
--data '{"channel":"C123ABC456","text":"I hope the tour went well, Mr. Wonka."}' \
https://slack.com/api/chat.postMessage"#,
        )
        .ok("POST", "https://slack.com/api/chat.postMessage")
        .h("Authorization", "Bearer xoxb-1234-56789abcdefghijklmnop")
        .h("Content-type", "application/json; charset=utf-8")
        .json(r#"{"channel":"C123ABC456","text":"I hope the tour went well, Mr. Wonka."}"#),
        case(
            "docs/slack files.upload (multipart form)",
            r#"curl -F file=@dramacat.gif -F "initial_comment=Shakes the cat" -F channels=C024BE91L,D032AC32T -H "Authorization: Bearer xoxb-xxxxxxxxx-xxxx" https://slack.com/api/files.upload"#,
        )
        .unsupported(&["-F"]),
        case(
            "docs/slack auth.test",
            "curl -X POST -H 'Authorization: Bearer xoxb-1234-56789abcdefghijklmnop' https://slack.com/api/auth.test",
        )
        .ok("POST", "https://slack.com/api/auth.test")
        .h("Authorization", "Bearer xoxb-1234-56789abcdefghijklmnop"),
        case(
            "docs/twilio send SMS ($VARS kept as written)",
            r#"curl -X POST "https://api.twilio.com/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Messages.json" \
--data-urlencode "Body=Hi there" \
--data-urlencode "From=+15017122661" \
--data-urlencode "To=+15558675310" \
-u $TWILIO_ACCOUNT_SID:$TWILIO_AUTH_TOKEN"#,
        )
        .ok("POST", format!("{twilio}/Messages.json"))
        .h("Authorization", BASIC_TWILIO)
        .form("Body=Hi%20there&From=%2B15017122661&To=%2B15558675310")
        .warns("-u puts a password")
        .warns("shell variables (the first at position 57)"),
        case(
            "docs/twilio list messages",
            r#"curl -X GET "https://api.twilio.com/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Messages.json?PageSize=20" \
-u $TWILIO_ACCOUNT_SID:$TWILIO_AUTH_TOKEN"#,
        )
        .ok("GET", format!("{twilio}/Messages.json?PageSize=20"))
        .h("Authorization", BASIC_TWILIO)
        .warns("-u puts a password")
        .warns("shell variables"),
        case(
            "docs/twilio make call",
            r#"curl -X POST https://api.twilio.com/2010-04-01/Accounts/$TWILIO_ACCOUNT_SID/Calls.json \
--data-urlencode "Url=http://demo.twilio.com/docs/voice.xml" \
--data-urlencode "To=+14155551212" \
--data-urlencode "From=+15017122661" \
-u $TWILIO_ACCOUNT_SID:$TWILIO_AUTH_TOKEN"#,
        )
        .ok("POST", format!("{twilio}/Calls.json"))
        .h("Authorization", BASIC_TWILIO)
        .form("Url=http%3A%2F%2Fdemo.twilio.com%2Fdocs%2Fvoice.xml&To=%2B14155551212&From=%2B15017122661")
        .warns("-u puts a password")
        .warns("shell variables"),
        case(
            "docs/twilio verify",
            r#"curl -X POST "https://verify.twilio.com/v2/Services/VAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Verifications" \
--data-urlencode "To=+15017122661" \
--data-urlencode "Channel=sms" \
-u $TWILIO_ACCOUNT_SID:$TWILIO_AUTH_TOKEN"#,
        )
        .ok("POST", "https://verify.twilio.com/v2/Services/VAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Verifications")
        .h("Authorization", BASIC_TWILIO)
        .form("To=%2B15017122661&Channel=sms")
        .warns("-u puts a password")
        .warns("shell variables"),
        case(
            "docs/qualtrics list surveys",
            "curl -X GET -H 'X-API-TOKEN: yourapitoken' 'https://yourdatacenterid.qualtrics.com/API/v3/surveys'",
        )
        .ok("GET", format!("{q}/API/v3/surveys"))
        .h("X-API-TOKEN", "yourapitoken"),
        case(
            "docs/qualtrics start response export",
            r#"curl -X POST \
-H 'X-API-TOKEN: yourapitoken' \
-H 'Content-Type: application/json' \
-d '{"format": "csv"}' \
'https://yourdatacenterid.qualtrics.com/API/v3/surveys/SV_012345678912345/export-responses'"#,
        )
        .ok("POST", format!("{q}/API/v3/surveys/SV_012345678912345/export-responses"))
        .h("X-API-TOKEN", "yourapitoken")
        .h("Content-Type", "application/json")
        .json(r#"{"format": "csv"}"#),
        case(
            "docs/qualtrics oauth client credentials",
            "curl -X POST -u 'clientId:clientSecret' -H 'Content-Type: application/x-www-form-urlencoded' -d 'grant_type=client_credentials&scope=manage:all' 'https://yourdatacenterid.qualtrics.com/oauth2/token'",
        )
        .ok("POST", format!("{q}/oauth2/token"))
        .h("Authorization", "Basic Y2xpZW50SWQ6Y2xpZW50U2VjcmV0")
        .h("Content-Type", "application/x-www-form-urlencoded")
        .form("grant_type=client_credentials&scope=manage:all")
        .warns("-u puts a password"),
        case(
            "docs/qualtrics whoami",
            "curl -H 'X-API-TOKEN: yourapitoken' 'https://yourdatacenterid.qualtrics.com/API/v3/whoami'",
        )
        .ok("GET", format!("{q}/API/v3/whoami"))
        .h("X-API-TOKEN", "yourapitoken"),
    ]
}

fn others() -> Vec<Case> {
    let mut v = others_a();
    v.extend(super::docs_more::cases());
    v
}

fn others_a() -> Vec<Case> {
    vec![
        case(
            "docs/openai chat completion",
            r#"curl https://api.openai.com/v1/chat/completions \
  -H "Content-Type: application/json" \
  -H "Authorization: Bearer $OPENAI_API_KEY" \
  -d '{
     "model": "gpt-4o-mini",
     "messages": [{"role": "user", "content": "Say this is a test!"}],
     "temperature": 0.7
   }'"#,
        )
        .ok("POST", "https://api.openai.com/v1/chat/completions")
        .h("Content-Type", "application/json")
        .h("Authorization", "Bearer $OPENAI_API_KEY")
        .json("{\n     \"model\": \"gpt-4o-mini\",\n     \"messages\": [{\"role\": \"user\", \"content\": \"Say this is a test!\"}],\n     \"temperature\": 0.7\n   }")
        .warns("shell variables"),
        case(
            "docs/anthropic messages (data on the next line)",
            r#"curl https://api.anthropic.com/v1/messages \
     --header "x-api-key: $ANTHROPIC_API_KEY" \
     --header "anthropic-version: 2023-06-01" \
     --header "content-type: application/json" \
     --data \
'{
    "model": "claude-3-5-sonnet-20241022",
    "max_tokens": 1024,
    "messages": [
        {"role": "user", "content": "Hello, world"}
    ]
}'"#,
        )
        .ok("POST", "https://api.anthropic.com/v1/messages")
        .h("x-api-key", "$ANTHROPIC_API_KEY")
        .h("anthropic-version", "2023-06-01")
        .h("content-type", "application/json")
        .json("{\n    \"model\": \"claude-3-5-sonnet-20241022\",\n    \"max_tokens\": 1024,\n    \"messages\": [\n        {\"role\": \"user\", \"content\": \"Hello, world\"}\n    ]\n}")
        .warns("shell variables"),
        case(
            "docs/sendgrid mail send",
            r#"curl --request POST \
--url https://api.sendgrid.com/v3/mail/send \
--header "Authorization: Bearer $SENDGRID_API_KEY" \
--header 'Content-Type: application/json' \
--data '{"personalizations": [{"to": [{"email": "test@example.com"}]}],"from": {"email": "test@example.com"},"subject": "Sending with SendGrid is Fun","content": [{"type": "text/plain", "value": "and easy to do anywhere, even with cURL"}]}'"#,
        )
        .ok("POST", "https://api.sendgrid.com/v3/mail/send")
        .h("Authorization", "Bearer $SENDGRID_API_KEY")
        .h("Content-Type", "application/json")
        .json(r#"{"personalizations": [{"to": [{"email": "test@example.com"}]}],"from": {"email": "test@example.com"},"subject": "Sending with SendGrid is Fun","content": [{"type": "text/plain", "value": "and easy to do anywhere, even with cURL"}]}"#)
        .warns("shell variables"),
        case(
            "docs/mailgun send (silent, multipart form)",
            r#"curl -s --user 'api:YOUR_API_KEY' \
    https://api.mailgun.net/v3/YOUR_DOMAIN_NAME/messages \
    -F from='Excited User <mailgun@YOUR_DOMAIN_NAME>' \
    -F to=YOU@YOUR_DOMAIN_NAME \
    -F to=bar@example.com \
    -F subject='Hello' \
    -F text='Testing some Mailgun awesomeness!'"#,
        )
        .unsupported(&["-s", "-F"]),
        case(
            "docs/hubspot create contact",
            r#"curl --request POST \
  --url https://api.hubapi.com/crm/v3/objects/contacts \
  --header 'authorization: Bearer YOUR_ACCESS_TOKEN' \
  --header 'content-type: application/json' \
  --data '{
  "properties": {
    "email": "example@hubspot.com",
    "firstname": "Jane",
    "lastname": "Doe"
  }
}'"#,
        )
        .ok("POST", "https://api.hubapi.com/crm/v3/objects/contacts")
        .h("authorization", "Bearer YOUR_ACCESS_TOKEN")
        .h("content-type", "application/json")
        .json("{\n  \"properties\": {\n    \"email\": \"example@hubspot.com\",\n    \"firstname\": \"Jane\",\n    \"lastname\": \"Doe\"\n  }\n}"),
        case(
            "docs/shopify products",
            r#"curl -X GET "https://your-development-store.myshopify.com/admin/api/2024-07/products.json" \
-H "X-Shopify-Access-Token: {access_token}""#,
        )
        .ok("GET", "https://your-development-store.myshopify.com/admin/api/2024-07/products.json")
        .h("X-Shopify-Access-Token", "{access_token}"),
        case(
            "docs/pagerduty incidents (content type without body)",
            r#"curl --request GET \
  --url https://api.pagerduty.com/incidents \
  --header 'Accept: application/vnd.pagerduty+json;version=2' \
  --header 'Authorization: Token token=y_NbAkKc66ryYTWUXYEu' \
  --header 'Content-Type: application/json'"#,
        )
        .ok("GET", "https://api.pagerduty.com/incidents")
        .h("Accept", "application/vnd.pagerduty+json;version=2")
        .h("Authorization", "Token token=y_NbAkKc66ryYTWUXYEu")
        .h("Content-Type", "application/json"),
        case(
            "docs/elasticsearch search (no scheme, -d' attached, GET with body)",
            "curl -X GET \"localhost:9200/_search?pretty\" -H 'Content-Type: application/json' -d'\n{\n  \"query\": {\n    \"match_all\": {}\n  }\n}\n'",
        )
        .ok("GET", "http://localhost:9200/_search?pretty")
        .h("Content-Type", "application/json")
        .json("\n{\n  \"query\": {\n    \"match_all\": {}\n  }\n}\n"),
        case(
            "docs/elasticsearch create index",
            r#"curl -X PUT "localhost:9200/my-index-000001?pretty""#,
        )
        .ok("PUT", "http://localhost:9200/my-index-000001?pretty"),
        case(
            "docs/mailchimp ping",
            r#"curl -X GET \
  'https://${dc}.api.mailchimp.com/3.0/ping' \
  --user "anystring:${apikey}""#,
        )
        .ok("GET", "https://${dc}.api.mailchimp.com/3.0/ping")
        .h("Authorization", "Basic YW55c3RyaW5nOiR7YXBpa2V5fQ==")
        .warns("--user puts a password")
        .warns("shell variables"),
        case(
            "docs/okta list users (verbose)",
            r#"curl -v -X GET \
-H "Accept: application/json" \
-H "Content-Type: application/json" \
-H "Authorization: SSWS ${api_token}" \
"https://${yourOktaDomain}/api/v1/users?limit=25""#,
        )
        .unsupported(&["-v"]),
        case(
            "docs/auth0 client credentials",
            r#"curl --request POST \
  --url 'https://YOUR_DOMAIN/oauth/token' \
  --header 'content-type: application/x-www-form-urlencoded' \
  --data grant_type=client_credentials \
  --data client_id=YOUR_CLIENT_ID \
  --data client_secret=YOUR_CLIENT_SECRET \
  --data audience=YOUR_API_IDENTIFIER"#,
        )
        .ok("POST", "https://YOUR_DOMAIN/oauth/token")
        .h("content-type", "application/x-www-form-urlencoded")
        .form("grant_type=client_credentials&client_id=YOUR_CLIENT_ID&client_secret=YOUR_CLIENT_SECRET&audience=YOUR_API_IDENTIFIER"),
    ]
}
