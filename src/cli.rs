//! The command line: subcommands, their flags and help, and the values they parse.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

use keyway::configuration;

#[derive(Parser)]
#[command(
    name = "keyway",
    version,
    about = "Credential vault and OAuth 2.0 broker for outgoing web-service calls"
)]
pub(crate) struct Cli {
    /// A TOML file overriding config/default.toml (KEYWAY_* variables override both).
    #[arg(long, global = true)]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The `KEYWAY_*` variables `serve` reads, listed under `keyway serve --help`.
fn env_help() -> String {
    let mut help =
        String::from("Environment (overrides the --config file and config/default.toml):\n");
    for (var, setting) in configuration::ENV_VARS {
        help.push_str(&format!("  {var:<40} {setting}\n"));
    }
    help
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the HTTP API (migrates first).
    #[command(after_help = env_help())]
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage orgs.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print a one-time link that signs a user in to the web console (valid 10 minutes).
    LoginLink {
        /// The user's org (slug).
        #[arg(long)]
        org: String,
        /// The user's name.
        #[arg(long)]
        user: String,
    },
    /// Manage master keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Work with curl commands (offline: no server, database or key needed).
    #[command(subcommand)]
    Curl(CurlCommand),
    /// Print the API's OpenAPI 3.1 document (offline), as `GET /openapi.json` serves it.
    Openapi,
}

#[derive(Subcommand)]
pub(crate) enum CurlCommand {
    /// Turn a curl command into a request definition, printed as JSON. Reads the command from
    /// standard input when it is not given as an argument.
    Import {
        /// The whole curl command, quoted as one argument.
        command: Option<String>,
        /// Drop unsupported options (listed in `dropped`) instead of failing.
        #[arg(long)]
        drop_unsupported: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum OrgCommand {
    /// Create an org (a "brand") identified by SLUG.
    Create {
        /// Lower-case letters, digits and hyphens.
        slug: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user in an org.
    Create {
        /// The org's slug.
        #[arg(long)]
        org: String,
        /// The new user's name, unique in the org.
        #[arg(long)]
        name: String,
        /// Make the user an admin of the org.
        #[arg(long)]
        admin: bool,
    },
    /// Disable a user who left: their tokens stop working at once. Their credentials keep
    /// working for the workflows that use them until an admin transfers them.
    Disable {
        /// The org's slug.
        #[arg(long)]
        org: String,
        /// The user's name in the org.
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Create an API token for a user; prints the token alone on stdout, once.
    Create {
        /// The org's slug.
        #[arg(long)]
        org: String,
        /// The user's name in the org.
        #[arg(long)]
        user: String,
        /// How long the token works: a number with d, h, m or s (90d), or `never`.
        #[arg(long, default_value = "90d")]
        ttl: String,
    },
    /// List a user's tokens: ID, created, last used, expires, revoked; never the token.
    List {
        /// The org's slug.
        #[arg(long)]
        org: String,
        /// The user's name in the org.
        #[arg(long)]
        user: String,
    },
    /// Revoke a user's tokens: all of them, or the one given with --id.
    Revoke {
        /// The org's slug.
        #[arg(long)]
        org: String,
        /// The user's name in the org.
        #[arg(long)]
        user: String,
        /// Only this token (an ID from `keyway token list`).
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Print a new random master key as `id:base64key`, for KEYWAY_MASTER_KEYS.
    Generate {
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Re-wrap every stored data key under the active (first) master key, online.
    Rewrap {
        /// Rows per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: i64,
    },
}

/// `90d`, `12h`, `30m`, `45s`, or `never` (`None`).
pub(crate) fn parse_ttl(raw: &str) -> anyhow::Result<Option<std::time::Duration>> {
    if raw == "never" {
        return Ok(None);
    }
    // The unit is the last character (split there, not at a byte, so any input is safe).
    let mut chars = raw.chars();
    let unit = chars.next_back();
    let number = chars.as_str();
    let seconds = match unit {
        Some('d') => 86_400,
        Some('h') => 3_600,
        Some('m') => 60,
        Some('s') => 1,
        _ => bail!("--ttl must be a number with d, h, m or s (such as 90d), or `never`"),
    };
    let total = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(seconds))
        .filter(|s| (1..=3650 * 86_400).contains(s))
        .context("--ttl must be a positive number with d, h, m or s (such as 90d) of at most 10 years, or `never`")?;
    Ok(Some(std::time::Duration::from_secs(total)))
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;
    use std::time::Duration;

    #[test]
    fn ttls_parse_and_odd_input_is_refused() {
        assert_eq!(
            parse_ttl("90d").unwrap(),
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(parse_ttl("2s").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(parse_ttl("never").unwrap(), None);
        for bad in [
            "",
            "d",
            "0d",
            "9é",
            "é",
            "-1h",
            "1w",
            "99999999999d",
            "3651d",
            "1.5h",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
