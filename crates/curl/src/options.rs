//! curl's option table: which options import supports, and which unsupported ones take an
//! argument (so that dropping one also drops its argument instead of mistaking it for a URL).

/// What an option does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opt {
    Url,
    Request,
    Header,
    Get,
    Data,
    DataAscii,
    DataRaw,
    DataBinary,
    DataUrlencode,
    Json,
    User,
    Unsupported { takes_arg: bool },
}

impl Opt {
    pub(crate) fn takes_arg(self) -> bool {
        match self {
            Self::Get => false,
            Self::Unsupported { takes_arg } => takes_arg,
            _ => true,
        }
    }
}

/// A long option, named without its leading `--`.
pub(crate) fn long(name: &str) -> Opt {
    match name {
        "url" => Opt::Url,
        "request" => Opt::Request,
        "header" => Opt::Header,
        "get" => Opt::Get,
        "data" => Opt::Data,
        "data-ascii" => Opt::DataAscii,
        "data-raw" => Opt::DataRaw,
        "data-binary" => Opt::DataBinary,
        "data-urlencode" => Opt::DataUrlencode,
        "json" => Opt::Json,
        "user" => Opt::User,
        _ => {
            // curl 8.3's `--expand-<option>` takes what `--<option>` takes, with variables
            // expanded; variables are not supported, so neither is the prefixed form.
            let mut base = name;
            while let Some(rest) = base.strip_prefix("expand-") {
                base = rest;
            }
            let takes_arg = LONG_WITH_ARG.contains(&base)
                || (base != name && !matches!(long(base), Opt::Get | Opt::Unsupported { .. }));
            Opt::Unsupported { takes_arg }
        }
    }
}

/// A short option letter. Unknown letters are unsupported flags.
pub(crate) fn short(letter: char) -> Opt {
    match letter {
        'X' => Opt::Request,
        'H' => Opt::Header,
        'G' => Opt::Get,
        'd' => Opt::Data,
        'u' => Opt::User,
        c => Opt::Unsupported {
            takes_arg: SHORT_WITH_ARG.contains(c),
        },
    }
}

/// Short options that take an argument: `-A` user agent, `-b` cookie, `-c` cookie jar, `-C`
/// continue at, `-D` dump header, `-e` referer, `-E` cert, `-F` form, `-K` config, `-m` max
/// time, `-o` output, `-P` FTP port, `-Q` quote, `-r` range, `-t` telnet option, `-T` upload
/// file, `-U` proxy user, `-w` write out, `-x` proxy, `-y` speed time, `-Y` speed limit, `-z`
/// time condition.
const SHORT_WITH_ARG: &str = "AbcCDeEFKmoPQrtTUwxyYz";

/// Unsupported long options that take an argument (curl 8.x). Any other unsupported long
/// option is taken to be a flag.
const LONG_WITH_ARG: &[&str] = &[
    "abstract-unix-socket",
    "alt-svc",
    "aws-sigv4",
    "cacert",
    "capath",
    "cert",
    "cert-type",
    "ciphers",
    "config",
    "connect-timeout",
    "connect-to",
    "continue-at",
    "cookie",
    "cookie-jar",
    "create-file-mode",
    "crlfile",
    "curves",
    "delegation",
    "dns-interface",
    "dns-ipv4-addr",
    "dns-ipv6-addr",
    "dns-servers",
    "doh-url",
    "dump-header",
    "ech",
    "egd-file",
    "engine",
    "etag-compare",
    "etag-save",
    "expect100-timeout",
    "form",
    "form-string",
    "ftp-account",
    "ftp-alternative-to-user",
    "ftp-method",
    "ftp-port",
    "ftp-ssl-ccc-mode",
    "happy-eyeballs-timeout-ms",
    "haproxy-clientip",
    "hostpubmd5",
    "hostpubsha256",
    "hsts",
    "interface",
    "ip-tos",
    "ipfs-gateway",
    "keepalive-cnt",
    "keepalive-time",
    "key",
    "key-type",
    "krb",
    "libcurl",
    "limit-rate",
    "local-port",
    "login-options",
    "mail-auth",
    "mail-from",
    "mail-rcpt",
    "max-filesize",
    "max-redirs",
    "max-time",
    "netrc-file",
    "noproxy",
    "oauth2-bearer",
    "output",
    "output-dir",
    "parallel-max",
    "pass",
    "pinnedpubkey",
    "preproxy",
    "proto",
    "proto-default",
    "proto-redir",
    "proxy",
    "proxy-cacert",
    "proxy-capath",
    "proxy-cert",
    "proxy-cert-type",
    "proxy-ciphers",
    "proxy-crlfile",
    "proxy-header",
    "proxy-key",
    "proxy-key-type",
    "proxy-pass",
    "proxy-pinnedpubkey",
    "proxy-service-name",
    "proxy-tls13-ciphers",
    "proxy-tlsauthtype",
    "proxy-tlspassword",
    "proxy-tlsuser",
    "proxy-user",
    "proxy1.0",
    "pubkey",
    "quote",
    "random-file",
    "range",
    "rate",
    "referer",
    "request-target",
    "resolve",
    "retry",
    "retry-delay",
    "retry-max-time",
    "sasl-authzid",
    "service-name",
    "socks4",
    "socks4a",
    "socks5",
    "socks5-gssapi-service",
    "socks5-hostname",
    "speed-limit",
    "speed-time",
    "ssl-sessions",
    "stderr",
    "telnet-option",
    "tftp-blksize",
    "time-cond",
    "tls-max",
    "tls13-ciphers",
    "tlsauthtype",
    "tlspassword",
    "tlsuser",
    "trace",
    "trace-ascii",
    "trace-config",
    "unix-socket",
    "upload-file",
    "upload-flags",
    "url-query",
    "user-agent",
    "variable",
    "vlan-priority",
    "write-out",
];
