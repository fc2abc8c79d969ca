//! Runs a LocalKms (KMS instance API emulator) until killed, for trying clients by hand.
//!
//! ```text
//! cargo run --features test-util --example local_kms -- --dir /tmp/lk [--port 8443] [--secret acs/ram/user/app ...]
//! ```
//!
//! Writes into DIR: the CA file, a ClientKey JSON + password file for one access point allowed
//! to read every secret, `managed_credentials_providers.properties` and `local_kms.json`
//! (endpoint, host, port, file paths, secret names) for scripts.

use std::path::PathBuf;

use aliyun_managed_credentials::testing::LocalKms;

struct Args {
    dir: PathBuf,
    port: u16,
    secrets: Vec<String>,
}

const USAGE: &str =
    "usage: local_kms --dir DIR [--port N] [--secret NAME ...]   (default secret: acs/ram/user/app)";

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut port = 0;
    let mut secrets = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--dir" => dir = Some(PathBuf::from(value("--dir")?)),
            "--port" => {
                let text = value("--port")?;
                port = text
                    .parse()
                    .map_err(|_| format!("--port {text}: not a port number"))?;
            }
            "--secret" => secrets.push(value("--secret")?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if secrets.is_empty() {
        secrets.push("acs/ram/user/app".into());
    }
    Ok(Args {
        dir: dir.ok_or("--dir is required")?,
        port,
        secrets,
    })
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let dir = std::path::absolute(&args.dir)?;
    let kms = LocalKms::builder()
        .dir(&dir)
        .port(args.port)
        .start()
        .await?;
    let ap = kms.issue_access_point(&["*"]);
    let mut keys = Vec::new();
    for name in &args.secrets {
        keys.push((name.clone(), kms.put_ram_credential(name)));
    }
    let endpoint = kms.endpoint();
    let info = serde_json::json!({
        "endpoint": endpoint.to_string(),
        "host": endpoint.host,
        "port": endpoint.port,
        "connect_to": kms.addr().to_string(),
        "region_id": kms.region_id(),
        "ca_file": kms.ca_file(),
        "key_id": ap.key_id,
        "client_key_file": ap.client_key_file,
        "password_file": ap.password_file,
        "properties_file": ap.properties_file,
        "secret_names": args.secrets,
    });
    let info_file = dir.join("local_kms.json");
    std::fs::write(&info_file, serde_json::to_string_pretty(&info)?)?;

    println!("LocalKms listening on {} as {}", kms.addr(), endpoint);
    println!("  CA file:         {}", kms.ca_file().display());
    println!(
        "  ClientKey:       {} ({})",
        ap.client_key_file.display(),
        ap.key_id
    );
    println!("  password file:   {}", ap.password_file.display());
    println!("  properties file: {}", ap.properties_file.display());
    println!("  info:            {}", info_file.display());
    for (name, key) in &keys {
        println!("  secret {name}: AccessKeyId {}", key.access_key_id);
    }
    println!("Ctrl-C or SIGTERM to stop.");

    wait_for_termination().await;
    println!(
        "LocalKms: {} requests served, stopping.",
        kms.total_requests()
    );
    kms.shutdown().await;
    Ok(())
}
