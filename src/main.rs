//! The `keyway` binary: serve the API, run migrations, bootstrap orgs, users and tokens, and
//! manage master keys.

mod cli;

use anyhow::{bail, Context};
use clap::Parser;
use keyway_credentials::rewrap_all;
use keyway_model::Role;
use keyway_store::Store;
use keyway_vault::MasterKey;
use secrecy::ExposeSecret;

use cli::{
    parse_ttl, Cli, Command, CurlCommand, KeyCommand, OrgCommand, TokenCommand, UserCommand,
};
use keyway::configuration::Settings;
use keyway::startup::{connect, Application};
use keyway::{keys, telemetry};

// glibc's malloc was a tenth of a proxied call's CPU, with arena lock contention between the
// workers and the audit and log threads that free what the workers allocate.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    let _logs = telemetry::init(&settings.log);
    match cli.command {
        Command::Serve => {
            Application::build(&settings)
                .await?
                .run_until_stopped()
                .await
        }
        Command::Migrate => {
            connect(&settings).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Org(OrgCommand::Create { slug }) => {
            let slug =
                keyway_model::OrgSlug::parse(&slug).map_err(|e| anyhow::anyhow!(e.message))?;
            let store = connect(&settings).await?;
            let org = store
                .create_org(slug.as_str())
                .await
                .context("the org could not be created")?;
            println!("{}", org.slug);
            Ok(())
        }
        Command::User(UserCommand::Create { org, name, admin }) => {
            let name =
                keyway_model::UserName::parse(&name).map_err(|e| anyhow::anyhow!(e.message))?;
            let store = connect(&settings).await?;
            let org = find_org(&store, &org).await?;
            let role = if admin { Role::Admin } else { Role::Member };
            let user = store
                .create_user(&org.id, name.as_str(), role)
                .await
                .context("the user could not be created")?;
            eprintln!(
                "created {} {} in org {}",
                role.as_str(),
                user.name,
                org.slug
            );
            println!("{}", user.id);
            Ok(())
        }
        Command::Token(TokenCommand::Create { org, user, ttl }) => {
            let ttl = parse_ttl(&ttl)?;
            let store = connect(&settings).await?;
            let user = find_user(&store, &org, &user).await?;
            let token =
                keyway_credentials::tokens::issue_token_with_ttl(&store, &user.id, ttl).await?;
            println!("{}", token.expose_secret());
            Ok(())
        }
        Command::LoginLink { org, user } => {
            let store = connect(&settings).await?;
            let user = find_user(&store, &org, &user).await?;
            let link = keyway_credentials::console::create_login_link(&store, &user.id).await?;
            println!(
                "{}/console/link?token={}",
                settings.public_url_for(&settings.listen),
                link.expose_secret()
            );
            eprintln!("the link signs {} in once, within 10 minutes", user.name);
            Ok(())
        }
        Command::Token(TokenCommand::List { org, user }) => {
            let store = connect(&settings).await?;
            let user = find_user(&store, &org, &user).await?;
            let time =
                |t: Option<i64>| t.map_or_else(|| "-".to_owned(), keyway_credentials::rfc3339);
            println!(
                "{:<16}  {:<24}  {:<24}  {:<24}  revoked",
                "id", "created", "last used", "expires"
            );
            for t in store.list_tokens(&user.id).await? {
                println!(
                    "{:<16}  {:<24}  {:<24}  {:<24}  {}",
                    t.id,
                    time(Some(t.created_at)),
                    time(t.last_used_at),
                    t.expires_at
                        .map_or_else(|| "never".to_owned(), keyway_credentials::rfc3339),
                    time(t.revoked_at)
                );
            }
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { org, user, id }) => {
            let store = connect(&settings).await?;
            let user = find_user(&store, &org, &user).await?;
            let n = store.revoke_tokens(&user.id, id.as_deref()).await?;
            if id.is_some() && n == 0 {
                bail!(
                    "{} has no unrevoked token with that ID (see `keyway token list`)",
                    user.name
                );
            }
            eprintln!("revoked {n} token(s) of {}", user.name);
            Ok(())
        }
        Command::User(UserCommand::Disable { org, user }) => {
            let store = connect(&settings).await?;
            let user = find_user(&store, &org, &user).await?;
            store.disable_user(&user.id).await?;
            eprintln!(
                "disabled {}: their tokens no longer work; transfer their credentials with POST /v1/credentials/{{id}}/transfer",
                user.name
            );
            Ok(())
        }
        Command::Key(KeyCommand::Generate { id }) => {
            let (_, spec) = MasterKey::generate(id.parse()?);
            println!("{}", spec.expose_secret());
            Ok(())
        }
        Command::Key(KeyCommand::Rewrap { batch }) => {
            if batch < 1 {
                bail!("--batch must be at least 1");
            }
            let store = connect(&settings).await?;
            let keyring = keys::load_keyring(&settings, &store).await?;
            let report = rewrap_all(&store, &keyring, batch).await?;
            eprintln!(
                "re-wrapped {} data keys under '{}' ({} replaced meanwhile, already under it)",
                report.rewrapped,
                keyring.active_id(),
                report.skipped
            );
            Ok(())
        }
        Command::Curl(CurlCommand::Import {
            command,
            drop_unsupported,
        }) => curl_import(command, drop_unsupported),
        Command::Openapi => {
            print!("{}", keyway_server::openapi::document());
            Ok(())
        }
    }
}

/// Prints the import as JSON on stdout; a refusal goes to stderr in the API's error shape.
fn curl_import(command: Option<String>, drop_unsupported: bool) -> anyhow::Result<()> {
    let command = match command {
        Some(c) => c,
        None => std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?,
    };
    let options = keyway_curl::ImportOptions { drop_unsupported };
    match keyway_curl::import(&command, &options) {
        Ok(import) => {
            println!("{}", serde_json::to_string_pretty(&import)?);
            Ok(())
        }
        Err(err) => {
            let mut error = serde_json::json!({"code": err.code(), "message": err.to_string()});
            match &err {
                keyway_curl::CurlError::Invalid { position, .. } => {
                    error["position"] = (*position).into();
                }
                keyway_curl::CurlError::Unsupported { options } => {
                    error["options"] = serde_json::json!(options);
                }
                keyway_curl::CurlError::Request(_) => {}
            }
            eprintln!("{}", serde_json::json!({ "error": error }));
            std::process::exit(2);
        }
    }
}

async fn find_org(store: &Store, slug: &str) -> anyhow::Result<keyway_store::OrgRow> {
    store
        .org_by_slug(slug)
        .await?
        .with_context(|| format!("no org '{slug}': create it with `keyway org create {slug}`"))
}

async fn find_user(store: &Store, org: &str, name: &str) -> anyhow::Result<keyway_store::UserRow> {
    let org = find_org(store, org).await?;
    store.user_by_name(&org.id, name).await?.with_context(|| {
        format!(
            "no user named '{name}' in org '{}': create it with `keyway user create`",
            org.slug
        )
    })
}
