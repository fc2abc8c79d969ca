//! Quickstart, runnable in seconds without an Alibaba Cloud account:
//!
//! ```text
//! cargo run --features test-util --example quickstart
//! ```
//!
//! Starts LocalKms (the in-process KMS emulator) on 127.0.0.1, issues an application access point
//! (ClientKey + password + CA + properties file) and a managed RAM credential, then uses the
//! provider exactly as an application would: build it from the properties file, fetch the
//! AccessKey, watch it pick up a scheduled rotation, and recover from a rejected key.

use std::io::Write;
use std::time::{Duration, SystemTime};

use aliyun_managed_credentials::testing::{LocalKms, RamCredentialOptions};
use aliyun_managed_credentials::ManagedCredentialsProvider;

const SECRET: &str = "acs/ram/user/quickstart";

fn masked(secret: &str) -> String {
    format!("<{} chars, never printed>", secret.chars().count())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = tokio::time::Instant::now();
    let t = || format!("[+{:>5.2}s]", started.elapsed().as_secs_f64());

    // 1. A KMS instance on 127.0.0.1 with one access point and one managed RAM credential whose
    //    next rotation is 3 seconds away (KMS dates have whole seconds).
    let kms = LocalKms::start().await?;
    let ap = kms.issue_access_point(&["acs/ram/user/*"]);
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_secs()
        + 3;
    let rotation = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    kms.put_ram_credential_with(
        SECRET,
        RamCredentialOptions {
            rotation_interval: Duration::from_secs(3600),
            next_rotation: Some(rotation),
            expire: None,
        },
    );
    println!("{} LocalKms at {} ({})", t(), kms.endpoint(), kms.addr());

    // 2. The properties file LocalKms wrote, plus two tuning keys so this demo runs in seconds:
    //    refresh 500 ms after NextRotationDate (default 5 min), no jitter (default up to 5 min).
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&ap.properties_file)?;
    writeln!(file, "refresh_rotation_delay_ms=500\nrefresh_jitter_ms=0")?;
    println!("{} properties file: {}", t(), ap.properties_file.display());

    // 3. What an application does.
    let provider = ManagedCredentialsProvider::from_properties_file(&ap.properties_file).await?;
    let ak = provider.get_access_key(SECRET).await?;
    println!(
        "{} fetched AccessKey {} secret {} (version {}, next rotation {})",
        t(),
        ak.access_key_id(),
        masked(ak.access_key_secret()),
        ak.version_id(),
        httpdate::fmt_http_date(ak.next_rotation().unwrap_or(rotation)),
    );

    // 4. KMS rotates the key at NextRotationDate; the provider refreshes on its own schedule.
    let mut updates = provider.subscribe(SECRET).await?;
    tokio::time::sleep(
        rotation
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    )
    .await;
    let rotated = kms.rotate(SECRET);
    println!("{} KMS rotated the key to {}", t(), rotated.access_key_id);
    tokio::time::timeout(Duration::from_secs(5), updates.changed()).await??;
    let ak2 = updates.borrow_and_update().clone();
    println!(
        "{} provider picked up {} on schedule (NextRotationDate + 500 ms), version {}",
        t(),
        ak2.access_key_id(),
        ak2.version_id()
    );

    // 5. Someone rotates the key out of schedule and disables the old one: an Alibaba Cloud API
    //    answers InvalidAccessKeyId.NotFound. Report it; retry only if a new key was obtained.
    let manual = kms.rotate(SECRET);
    kms.revoke_previous(SECRET);
    let in_use = provider.get_access_key(SECRET).await?;
    println!(
        "{} API rejected {} (valid at KMS: {})",
        t(),
        in_use.access_key_id(),
        kms.is_access_key_valid(in_use.access_key_id())
    );
    let outcome = provider
        .report_rejected(SECRET, &in_use, "InvalidAccessKeyId.NotFound")
        .await;
    match outcome.new_key() {
        Some(new_key) => println!(
            "{} forced refresh got {} (expected {}), retry the call with it",
            t(),
            new_key.access_key_id(),
            manual.access_key_id
        ),
        None => println!("{} no new key: {outcome:?}", t()),
    }

    let stats = provider.stats();
    println!(
        "{} stats: {} misses, {} fetches, {} forced refreshes, {} KMS requests seen by LocalKms",
        t(),
        stats.misses,
        stats.fetches,
        stats.forced_refreshes,
        kms.request_count(SECRET)
    );
    for s in provider.health().secrets {
        println!(
            "{} health: {} version {:?}, age {:?}, stale {}",
            t(),
            s.name,
            s.version_id,
            s.age.unwrap_or_default(),
            s.stale
        );
    }
    provider.close().await;
    kms.shutdown().await;
    Ok(())
}
