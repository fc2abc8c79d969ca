//! `aliyun-managed-credentials`: serve managed AccessKeys to apps in any language through the
//! `ALIBABA_CLOUD_CREDENTIALS_URI` protocol of the official credential libraries, or print one
//! (credentials-URI JSON, or the JSON of a CLI-profile `External` `process_command`).
//!
//! ```text
//! aliyun-managed-credentials serve [--config FILE] [--secret NAME]... [--listen ADDR]
//!     [--allow-non-loopback] [--token-file FILE] [--url-file FILE]
//!     [--min-validity SECS] [--max-validity SECS]
//! aliyun-managed-credentials get [--config FILE] [--secret NAME]
//! aliyun-managed-credentials credential-process [--config FILE] [--secret NAME]
//!     [--min-validity SECS] [--max-validity SECS] [--timeout SECS]
//! ```
//!
//! Argument parsing uses `pico-args` (tiny, no dependencies) rather than clap, to keep the
//! default build of the library light: the binary is built with the default `endpoint` feature.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use aliyun_managed_credentials::config::{Config, ConfigBuilder};
use aliyun_managed_credentials::integrations::endpoint::{CredentialsEndpoint, EndpointConfig};
use aliyun_managed_credentials::ManagedCredentialsProvider;
use zeroize::Zeroizing;

// `credential-process`: in a directory of its own, so Cargo does not take it for a binary.
#[path = "aliyun-managed-credentials/credential_process.rs"]
mod credential_process;
// Owner-only, atomic, symlink-refusing writes; shared with LocalKms, not public API.
#[path = "../private_file.rs"]
mod private_file;

const USAGE: &str = "\
aliyun-managed-credentials: managed Alibaba Cloud AccessKeys (KMS Secrets Manager) for any app

USAGE:
  aliyun-managed-credentials serve [OPTIONS]   serve keys at a local ALIBABA_CLOUD_CREDENTIALS_URI
  aliyun-managed-credentials get   [OPTIONS]   print one key as credentials-URI JSON
  aliyun-managed-credentials credential-process [OPTIONS]
                                              print one key as the JSON of a CLI-profile
                                              External process_command (~/.aliyun/config.json)

OPTIONS:
  --config FILE          managed_credentials_providers.properties (default: $ALIYUN_MANAGED_CREDENTIALS_FILE,
                         else ./managed_credentials_providers.properties)
  --secret NAME          RAM-credential secret to serve (repeatable; default: secret_names of the file)
  --listen ADDR          listen address (default 127.0.0.1:0, an ephemeral loopback port)
  --allow-non-loopback   allow a non-loopback --listen address (protect the port yourself)
  --token-file FILE      read the URL token from FILE (>= 32 chars of A-Za-z0-9-_), for a stable URL
  --url-file FILE        write the credentials URL to FILE instead of printing it (replaced atomically,
                         mode 0600; a symbolic link is refused)
  --min-validity SECS    shortest Expiration handed out (default 1200; credential-process: 600,
                         at least 240)
  --max-validity SECS    longest Expiration handed out (default 3600)
  --timeout SECS         credential-process only: give up after SECS (default 50; the official
                         clients kill the command after 60 s)
  -h, --help             this help

Set the printed URL (or the content of --url-file) as ALIBABA_CLOUD_CREDENTIALS_URI in the app's
environment. The URL carries the access token: treat it like a password.

credential-process prints one JSON line (mode AK, access_key_id, access_key_secret, expiration)
and exits: the process_command of an External profile. The official Python, Node.js and Go
clients then write the key back into ~/.aliyun/config.json IN PLAIN TEXT (see the manual).
";

struct Options {
    config: Option<PathBuf>,
    secrets: Vec<String>,
    listen: Option<SocketAddr>,
    allow_non_loopback: bool,
    token_file: Option<PathBuf>,
    url_file: Option<PathBuf>,
    min_validity: Option<u64>,
    max_validity: Option<u64>,
    timeout: Option<u64>,
}

fn parse(mut args: pico_args::Arguments) -> Result<Options, String> {
    let opts = Options {
        config: args.opt_value_from_str("--config").map_err(arg_error)?,
        secrets: args.values_from_str("--secret").map_err(arg_error)?,
        listen: args.opt_value_from_str("--listen").map_err(arg_error)?,
        allow_non_loopback: args.contains("--allow-non-loopback"),
        token_file: args.opt_value_from_str("--token-file").map_err(arg_error)?,
        url_file: args.opt_value_from_str("--url-file").map_err(arg_error)?,
        min_validity: args
            .opt_value_from_str("--min-validity")
            .map_err(arg_error)?,
        max_validity: args
            .opt_value_from_str("--max-validity")
            .map_err(arg_error)?,
        timeout: args.opt_value_from_str("--timeout").map_err(arg_error)?,
    };
    let rest = args.finish();
    if !rest.is_empty() {
        return Err(format!(
            "unexpected arguments: {}",
            rest.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    Ok(opts)
}

fn arg_error(e: pico_args::Error) -> String {
    e.to_string()
}

fn main() -> ExitCode {
    let mut args = pico_args::Arguments::from_env();
    if args.contains(["-h", "--help"]) {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let command = match args.subcommand() {
        Ok(Some(c)) => c,
        Ok(None) => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let opts = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if command == "credential-process" {
        return credential_process_main(&opts);
    }
    if opts.timeout.is_some() {
        eprintln!("error: --timeout applies to credential-process only\n\n{USAGE}");
        return ExitCode::from(2);
    }
    tracing_init(tracing_subscriber::filter::LevelFilter::INFO);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command.as_str() {
        "serve" => runtime.block_on(serve(opts)),
        "get" => runtime.block_on(get(opts)),
        other => {
            eprintln!("error: unknown command '{other}' (expected serve, get or credential-process)\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `credential-process`: a single-threaded runtime (one fetch, nothing in the background), logs
/// at `error` unless `RUST_LOG` says otherwise (the `aliyun` CLI shows the command's stderr on
/// the terminal, and a failure is reported once, as the final error line), exit 2 for usage
/// errors, 1 for everything else.
fn credential_process_main(opts: &Options) -> ExitCode {
    tracing_init(tracing_subscriber::filter::LevelFilter::ERROR);
    let unused = [
        ("--listen", opts.listen.is_some()),
        ("--allow-non-loopback", opts.allow_non_loopback),
        ("--token-file", opts.token_file.is_some()),
        ("--url-file", opts.url_file.is_some()),
    ];
    if let Some((flag, _)) = unused.iter().find(|(_, given)| *given) {
        eprintln!("error: {flag} does not apply to credential-process\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let request = credential_process::Request {
        config: opts.config.as_deref(),
        secrets: &opts.secrets,
        min_validity: opts.min_validity,
        max_validity: opts.max_validity,
        timeout: opts.timeout,
    };
    if let Err(e) = credential_process::check_usage(&request) {
        eprintln!("error: {e}\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aliyun-managed-credentials: error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(credential_process::run(request)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The consumers show this text after "failed to execute external command": name
            // ourselves, since they do not name the command.
            eprintln!("aliyun-managed-credentials: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn tracing_init(default: tracing_subscriber::filter::LevelFilter) {
    // Logs go to stderr; stdout is reserved for the URL or the --url-file path (serve) or the
    // JSON (get, credential-process). Level from RUST_LOG as a plain level
    // (error|warn|info|debug|trace), default `default`.
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| {
            v.trim()
                .parse::<tracing_subscriber::filter::LevelFilter>()
                .ok()
        })
        .unwrap_or(default);
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

async fn provider_and_secrets(
    opts: &Options,
) -> Result<(ManagedCredentialsProvider, Vec<String>), String> {
    let config = match &opts.config {
        Some(path) => Config::from_properties_file(path),
        None => Config::from_default_location(),
    }
    .map_err(|e| e.to_string())?;
    let mut secrets = opts.secrets.clone();
    if secrets.is_empty() {
        secrets = config.secret_names.clone();
    }
    if secrets.is_empty() {
        return Err(
            "no secret to serve: pass --secret NAME or set secret_names in the properties file"
                .into(),
        );
    }
    // Prefetch what will be served: the configuration's secret_names plus --secret.
    let config = ConfigBuilder::from_config(config)
        .with_secret_names(secrets.iter().cloned())
        .build()
        .map_err(|e| e.to_string())?;
    let provider = ManagedCredentialsProvider::from_config(config)
        .await
        .map_err(|e| e.to_string())?;
    Ok((provider, secrets))
}

async fn get(opts: Options) -> Result<(), String> {
    let (provider, secrets) = provider_and_secrets(&opts).await?;
    let name = &secrets[0];
    let creds = provider
        .access_key_provider(name.clone())
        .with_expiry_policy(EndpointConfig::default().expiry);
    let key = provider
        .get_access_key(name)
        .await
        .map_err(|e| e.to_string())?;
    let until = creds.valid_until(&key);
    // Serialized from borrowed fields: `json!` would copy the secret into a `Value` that is
    // dropped without being zeroized; this way the only copy is the zeroized output.
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Document<'a> {
        code: &'static str,
        access_key_id: &'a str,
        access_key_secret: &'a str,
        security_token: &'static str,
        expiration: String,
        last_updated: String,
    }
    let doc = Zeroizing::new(
        serde_json::to_string_pretty(&Document {
            code: "Success",
            access_key_id: key.access_key_id(),
            access_key_secret: key.access_key_secret(),
            security_token: "",
            expiration: format_date(until),
            last_updated: format_date(key.fetched_at()),
        })
        .map_err(|e| e.to_string())?,
    );
    println!("{}", doc.as_str());
    provider.close().await;
    Ok(())
}

async fn serve(opts: Options) -> Result<(), String> {
    let (provider, secrets) = provider_and_secrets(&opts).await?;
    let mut config = EndpointConfig::default();
    config.allow_non_loopback = opts.allow_non_loopback;
    if let Some(listen) = opts.listen {
        config.listen = listen;
    }
    if let Some(path) = &opts.token_file {
        let token = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("could not read --token-file {}: {e}", path.display()))?,
        );
        config.token = Some(Zeroizing::new(token.trim().to_owned()));
    }
    if let Some(s) = opts.min_validity {
        config.expiry.min_validity = Duration::from_secs(s);
    }
    if let Some(s) = opts.max_validity {
        config.expiry.max_validity = Duration::from_secs(s);
    }
    let endpoint = CredentialsEndpoint::start(provider.clone(), secrets.clone(), config)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(path) = &opts.url_file {
        // Every URL carries the token (a capability): with --url-file none goes to stdout, where
        // it would end up in terminal scrollback and service logs.
        let url = Zeroizing::new(format!("{}\n", endpoint.url()));
        private_file::write_private(path, url.as_bytes())
            .map_err(|e| format!("could not write --url-file {}: {e}", path.display()))?;
        println!(
            "# ALIBABA_CLOUD_CREDENTIALS_URI written to {} (not printed: it carries the token)",
            path.display()
        );
        if secrets.len() > 1 {
            println!("# other secrets: that URL followed by /SECRET_NAME");
        }
        println!("# health: that URL with /credentials replaced by /health");
    } else {
        // Printed once: the URL is a capability (it carries the token).
        println!("ALIBABA_CLOUD_CREDENTIALS_URI={}", endpoint.url());
        for secret in secrets.iter().skip(1) {
            println!("# {secret}: {}", endpoint.url_for(secret));
        }
        println!("# health: {}", endpoint.health_url());
    }
    wait_for_shutdown_signal().await;
    tracing::info!("shutting down");
    endpoint.shutdown().await;
    provider.close().await;
    Ok(())
}

async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `YYYY-MM-DDThh:mm:ssZ`, the date format of the credentials-URI document.
fn format_date(t: SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(t)
        .format(&format)
        .unwrap_or_default()
}
