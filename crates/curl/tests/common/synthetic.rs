//! Edge cases of quoting and of curl's option rules, malformed commands, and one row per
//! unsupported option (with and without dropping).

use super::{case, Case};
use keyway_model::ContentType;

const U: &str = "https://api.example.com/v1/items";

pub fn cases() -> Vec<Case> {
    let mut v = quoting();
    v.extend(semantics());
    v.extend(malformed());
    v.extend(unsupported_rows());
    v
}

fn quoting() -> Vec<Case> {
    vec![
        case("ansi-c quoting", format!(r"curl {U} -H $'X-Note: tab\there' --data-raw $'line1\nline2 \'q\' \x41\u00e9\x2f\101'"))
            .ok("POST", U)
            .h("X-Note", "tab\there")
            .form("line1\nline2 'q' Aé/A"),
        case("ansi-c bytes make one character, NUL cuts the string", format!(r"curl {U} -d $'caf\xc3\xa9\0gone'x"))
            .ok("POST", U)
            .form("caféx"),
        case("ansi-c unknown escape of a 4-byte character is kept", format!(r"curl {U} -d $'\😀x\q'"))
            .ok("POST", U)
            .form(r"\😀x\q"),
        case("typographic quotes", format!("curl “{U}” -H ‘Authorization: Bearer abc’ -d “a=1”"))
            .ok("POST", U)
            .h("Authorization", "Bearer abc")
            .form("a=1"),
        case("apostrophe inside typographic double quotes", format!("curl {U} -d “it’s”"))
            .ok("POST", U)
            .form("it’s"),
        case("backslash-CRLF continuations", format!("curl {U} \\\r\n  -H 'X-A: 1' \\\r\n  -X PUT"))
            .ok("PUT", U)
            .h("X-A", "1"),
        case("backslash with trailing blanks before the newline", format!("curl {U} \\  \n  -X PUT"))
            .ok("PUT", U),
        case("double-quote escapes", format!(r#"curl {U} -d "a=\$HOME \"q\" \\ \`x\` \n""#))
            .ok("POST", U)
            .form(r#"a=$HOME "q" \ `x` \n"#),
        case("unquoted backslash escapes", format!(r"curl {U} -d a\ b\'c\\"))
            .ok("POST", U)
            .form(r"a b'c\"),
        case("$\"..\" is a double-quoted string", format!(r#"curl {U} -H $"X-A: 1""#))
            .ok("GET", U)
            .h("X-A", "1"),
        case("leading $ prompt and a comment", format!("  $ curl {U} # list them\n"))
            .ok("GET", U),
        case("non-breaking spaces between words", format!("curl\u{a0}{U}\u{a0}-X\u{a0}PUT"))
            .ok("PUT", U),
    ]
}

fn semantics() -> Vec<Case> {
    vec![
        case("--json implies POST, json and Accept", format!(r#"curl --json '{{"a":1}}' {U}"#))
            .ok("POST", U)
            .h("Accept", "application/json")
            .json(r#"{"a":1}"#),
        case("--json repeated is concatenated", format!(r#"curl --json '{{"a":' --json '1}}' {U}"#))
            .ok("POST", U)
            .h("Accept", "application/json")
            .json(r#"{"a":1}"#),
        case("--json keeps a given Accept", format!("curl -H 'Accept: application/vnd.api+json' --json '{{}}' {U}"))
            .ok("POST", U)
            .h("Accept", "application/vnd.api+json")
            .json("{}"),
        case("--json with Accept removed", format!("curl -H 'Accept:' --json '{{}}' {U}"))
            .ok("POST", U)
            .json("{}"),
        case("-d after --json is joined with &", format!(r#"curl --json '{{"a":1}}' -d b=2 {U}"#))
            .ok("POST", U)
            .h("Accept", "application/json")
            .json(r#"{"a":1}&b=2"#),
        case("--json with -G goes to the query", format!("curl -G --json '[1]' {U}"))
            .ok("GET", format!("{U}?[1]"))
            .h("Accept", "application/json"),
        case("URL between options, headers in order", format!("curl -H 'X-A: 1' {U} -H 'X-B: 2'"))
            .ok("GET", U)
            .h("X-A", "1")
            .h("X-B", "2"),
        case("Name: removes earlier headers of that name", format!("curl -H 'Accept: text/html' -H 'X-A: 1' -H 'accept:' {U}"))
            .ok("GET", U)
            .h("X-A", "1"),
        case("Name; is an empty header", format!("curl -H 'X-Empty;' {U}"))
            .ok("GET", U)
            .h("X-Empty", ""),
        case("Content-Type removed while there is a body", format!("curl -d a=1 -H 'Content-Type:' {U}"))
            .invalid("'Content-Type:'", "removes Content-Type"),
        case("multipart content type", format!("curl -H 'Content-Type: multipart/form-data; boundary=x' -d a=1 {U}"))
            .content_type("multipart/form-data"),
        case("text/xml content type", format!("curl -H 'Content-Type: text/xml' -d '<a/>' {U}"))
            .ok("POST", U)
            .h("Content-Type", "text/xml")
            .body(ContentType::Xml, "<a/>"),
        case("-G appends to an existing query", format!("curl -G '{U}?q=a' --data-urlencode 'name=J Doe' -d x=1"))
            .ok("GET", format!("{U}?q=a&name=J%20Doe&x=1")),
        case("attached values: --url, -XPOST, -HX-A:1, -dk=v", "curl --url https://x.example/ -XPOST -HX-A:1 -dk=v")
            .ok("POST", "https://x.example/")
            .h("X-A", "1")
            .form("k=v"),
        case("cluster ending in an option with an argument", "curl -sX POST https://x.example/")
            .ok("POST", "https://x.example/")
            .dropped(&["-s"]),
        case("cluster of flags reported as written", "curl -sSL https://x.example/").unsupported(&["-sSL"]),
        case("unsupported options deduplicated, in order", "curl -s -L -s --compressed -L https://x.example/")
            .unsupported(&["-s", "-L", "--compressed"]),
        case("URL without scheme gets http://", "curl api.example.com/v1/x").ok("GET", "http://api.example.com/v1/x"),
        case("curl.exe", "curl.exe -X DELETE https://x.example/a").ok("DELETE", "https://x.example/a"),
        case("-- ends the options", "curl -X GET -- https://x.example/").ok("GET", "https://x.example/"),
        case("data options joined; --data-raw keeps @", "curl --data-ascii 'a=1' --data-binary 'b=2' --data-raw '@c' https://x.example/")
            .ok("POST", "https://x.example/")
            .form("a=1&b=2&@c"),
        case("--data-urlencode forms", "curl --data-urlencode '=a b' --data-urlencode 'c&d' --data-urlencode 'n=x/y?z' --data-urlencode 'a@b=c' https://x.example/")
            .ok("POST", "https://x.example/")
            .form("a%20b&c%26d&n=x%2Fy%3Fz&a@b=c"),
        case("-G with -X POST: data in the query, no body", "curl -G -X POST -d a=1 https://x.example/p#top")
            .ok("POST", "https://x.example/p?a=1#top"),
        case("-u loses to an Authorization header", "curl -u a:b -H 'Authorization: Bearer t' https://x.example/")
            .ok("GET", "https://x.example/")
            .h("Authorization", "Bearer t")
            .warns("-u is ignored"),
        case("-X GET with data keeps the body", "curl -X GET -d a=1 https://x.example/")
            .ok("GET", "https://x.example/")
            .form("a=1"),
        case("empty data is still a POST", "curl -d '' https://x.example/")
            .ok("POST", "https://x.example/")
            .form(""),
    ]
}

fn malformed() -> Vec<Case> {
    vec![
        case(
            "unbalanced single quote",
            "curl -H 'X-A: 1 https://x.example/",
        )
        .invalid("'X-A", "never closed"),
        case("unbalanced double quote", "curl \"https://x.example/")
            .invalid("\"https", "never closed"),
        case("unterminated $'..'", "curl https://x.example/ -d $'abc")
            .invalid("$'abc", "never closed"),
        case(
            "unbalanced typographic quote",
            "curl -H “X-A: 1 https://x.example/",
        )
        .invalid("“", "never closed"),
        case("no URL", "curl -X POST -d a=1").invalid_at(0, "no URL"),
        case("two URLs", "curl https://a.example/ https://b.example/")
            .invalid("https://b", "second URL"),
        case(
            "unquoted spaces make a second URL",
            "curl https://api.stripe.com/v1/charges -d description=My First Charge",
        )
        .invalid("First", "second URL"),
        case(
            "--url and a bare URL",
            "curl --url https://a.example/ https://b.example/",
        )
        .invalid("https://b", "second URL"),
        case("-H missing its argument", "curl https://x.example/ -H")
            .invalid("-H", "needs a value"),
        case(
            "--data missing its argument",
            "curl https://x.example/ --data",
        )
        .invalid("--data", "needs a value"),
        case(
            "unsupported option missing its argument",
            "curl https://x.example/ -o",
        )
        .invalid("-o", "needs a value")
        .with_drop(),
        case("not curl: wget", "wget https://x.example/").invalid_at(0, "not a curl command"),
        case("not curl: sudo", "sudo curl https://x.example/").invalid_at(0, "not a curl command"),
        case("empty command", "").invalid_at(0, "empty"),
        case("only a prompt", "$ ").invalid_at(0, "empty"),
        case("-d @file", "curl -d @body.json https://x.example/")
            .invalid("@body.json", "reads a file"),
        case("-d@file attached", "curl -d@body.json https://x.example/")
            .invalid("-d@", "reads a file"),
        case("-d @- (stdin)", "curl -d @- https://x.example/").invalid("@-", "reads a file"),
        case("--json @file", "curl --json @data.json https://x.example/")
            .invalid("@data.json", "reads a file"),
        case(
            "--data-urlencode name@file",
            "curl --data-urlencode 'name@file.txt' https://x.example/",
        )
        .invalid("'name@", "reads a file"),
        case("--data=x", "curl --data=x https://x.example/").invalid("--data=x", "--option=value"),
        case("ftp:// URL", "curl ftp://ftp.example.com/file.txt").invalid("ftp://", "only http"),
        case(
            "ftp. host without scheme",
            "curl -X GET ftp.example.com/file.txt",
        )
        .invalid("ftp.", "only http"),
        case("empty URL", "curl ''").invalid("''", "empty"),
        case(
            "header without colon",
            "curl -H 'Authorization Bearer abc' https://x.example/",
        )
        .invalid("'Authorization", "Name: value"),
        case(
            "header with an invalid name",
            "curl -H 'Bad Name: x' https://x.example/",
        )
        .invalid("'Bad", "valid header name"),
        case(
            "header value with a line break",
            r"curl -H $'X-A: a\r\nX-B: b' https://x.example/",
        )
        .invalid("$'X-A", "one line"),
        case("-H @file", "curl -H @headers.txt https://x.example/")
            .invalid("@headers", "from a file"),
        case("-u without a password", "curl -u alice https://x.example/")
            .invalid("alice", "user:password"),
        case(
            "method that is not a token",
            "curl -X 'GET /x' https://x.example/",
        )
        .invalid("'GET", "not an HTTP method"),
        case("pipe", "curl https://x.example/ | jq .").invalid("|", "shell operator"),
        case("unquoted & in the URL", "curl https://x.example/?a=1&b=2")
            .invalid("&", "shell operator"),
        case("redirect", "curl https://x.example/ > out.json").invalid(">", "shell operator"),
        case("semicolon", "curl https://x.example/; echo done").invalid(";", "shell operator"),
    ]
}

/// Each unsupported option curl users paste, with `ARG` as its argument when it takes one: if
/// the argument were not consumed, it would count as a second URL.
const UNSUPPORTED: &[(&str, bool)] = &[
    ("-L", false),
    ("--location", false),
    ("-k", false),
    ("--insecure", false),
    ("-s", false),
    ("--silent", false),
    ("-S", false),
    ("--show-error", false),
    ("-v", false),
    ("--verbose", false),
    ("-i", false),
    ("--include", false),
    ("--compressed", false),
    ("-O", false),
    ("--remote-name", false),
    ("-I", false),
    ("--head", false),
    ("-f", false),
    ("--fail", false),
    ("--fail-with-body", false),
    ("--http2", false),
    ("--http1.1", false),
    ("--no-progress-meter", false),
    ("--no-buffer", false),
    ("-N", false),
    ("-#", false),
    ("--progress-bar", false),
    ("-4", false),
    ("-6", false),
    ("-g", false),
    ("--globoff", false),
    ("--digest", false),
    ("--ntlm", false),
    ("--negotiate", false),
    ("--anyauth", false),
    ("-J", false),
    ("-Z", false),
    ("-n", false),
    ("--netrc", false),
    ("-q", false),
    ("-j", false),
    ("--location-trusted", false),
    ("--retry-all-errors", false),
    ("--path-as-is", false),
    ("--tlsv1.2", false),
    ("--ssl-reqd", false),
    ("--create-dirs", false),
    ("--some-unknown-option", false),
    ("-W", false),
    ("-A", true),
    ("--user-agent", true),
    ("-b", true),
    ("--cookie", true),
    ("-c", true),
    ("--cookie-jar", true),
    ("-e", true),
    ("--referer", true),
    ("-F", true),
    ("--form", true),
    ("--form-string", true),
    ("-m", true),
    ("--max-time", true),
    ("--connect-timeout", true),
    ("-o", true),
    ("--output", true),
    ("-x", true),
    ("--proxy", true),
    ("-U", true),
    ("--proxy-user", true),
    ("--cacert", true),
    ("--capath", true),
    ("-E", true),
    ("--cert", true),
    ("--key", true),
    ("--cert-type", true),
    ("--key-type", true),
    ("-T", true),
    ("--upload-file", true),
    ("-w", true),
    ("--write-out", true),
    ("--retry", true),
    ("--retry-delay", true),
    ("--retry-max-time", true),
    ("-r", true),
    ("--range", true),
    ("-z", true),
    ("--time-cond", true),
    ("--limit-rate", true),
    ("-Y", true),
    ("--speed-limit", true),
    ("-y", true),
    ("--speed-time", true),
    ("--resolve", true),
    ("--connect-to", true),
    ("--interface", true),
    ("--dns-servers", true),
    ("-K", true),
    ("--config", true),
    ("--oauth2-bearer", true),
    ("--aws-sigv4", true),
    ("--max-redirs", true),
    ("--max-filesize", true),
    ("-D", true),
    ("--dump-header", true),
    ("--trace", true),
    ("--trace-ascii", true),
    ("--stderr", true),
    ("--tls-max", true),
    ("--ciphers", true),
    ("--proto", true),
    ("--proto-redir", true),
    ("-C", true),
    ("--continue-at", true),
    ("--unix-socket", true),
    ("--abstract-unix-socket", true),
    ("--noproxy", true),
    ("--proxy-header", true),
    ("--url-query", true),
    ("--variable", true),
    ("--expand-url", true),
    ("--expand-data", true),
    ("--request-target", true),
    ("-Q", true),
    ("-t", true),
    ("-P", true),
];

fn unsupported_rows() -> Vec<Case> {
    let mut v = Vec::new();
    for &(opt, takes_arg) in UNSUPPORTED {
        let arg = if takes_arg { " ARG" } else { "" };
        let command = format!("curl {U} {opt}{arg}");
        v.push(case(format!("unsupported {opt}"), command.clone()).unsupported(&[opt]));
        v.push(
            case(format!("unsupported {opt}, dropped"), command)
                .ok("GET", U)
                .dropped(&[opt]),
        );
    }
    v.push(
        case(
            "unsupported -A with an attached value",
            format!("curl -Amyagent/1.0 {U}"),
        )
        .ok("GET", U)
        .dropped(&["-A"]),
    );
    v
}
