//! Signs an Alibaba Cloud OpenAPI RPC request (ECS `DescribeRegions`, signature v1, HMAC-SHA1)
//! with the managed AccessKey through this crate's own signer, and prints the signed URL.
//!
//! ```text
//! # against KMS, with managed_credentials_providers.properties in the working directory
//! # (or ALIYUN_MANAGED_CREDENTIALS_FILE):
//! cargo run --example rpc_signing -- acs/ram/user/app
//! curl "$(cargo run -q --example rpc_signing -- acs/ram/user/app)"
//!
//! # test mode: an in-process LocalKms holds the secret; the signature is verified locally
//! cargo run --features test-util --example rpc_signing -- --local-kms
//! ```

use aliyun_managed_credentials::ManagedCredentialsProvider;
use aliyun_managed_credentials::RpcRequest;

fn describe_regions() -> RpcRequest {
    RpcRequest::new("GET", "DescribeRegions", "2014-05-26").param("RegionId", "cn-hangzhou")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1).unwrap_or_default();
    if arg == "--local-kms" {
        return local_kms().await;
    }
    if arg.is_empty() || arg.starts_with('-') {
        eprintln!("usage: rpc_signing SECRET_NAME | --local-kms");
        std::process::exit(2);
    }
    let provider = ManagedCredentialsProvider::from_default_file().await?;
    let ak = provider.get_access_key(&arg).await?;
    let query = describe_regions().sign(&ak);
    println!("https://ecs.aliyuncs.com/?{query}");
    provider.close().await;
    Ok(())
}

#[cfg(feature = "test-util")]
async fn local_kms() -> Result<(), Box<dyn std::error::Error>> {
    use std::collections::BTreeMap;

    use aliyun_managed_credentials::testing::LocalKms;
    use base64::Engine;

    let name = "acs/ram/user/app";
    let kms = LocalKms::start().await?;
    let ap = kms.issue_access_point(&["*"]);
    let pair = kms.put_ram_credential(name);
    let provider = ManagedCredentialsProvider::from_properties_file(&ap.properties_file).await?;

    let ak = provider.get_access_key(name).await?;
    let query = describe_regions().sign(&ak);
    println!("https://ecs.aliyuncs.com/?{query}");

    // Verify like the service would: recompute the signature with the secret LocalKms issued.
    let params: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let d = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (d(k), d(v))
        })
        .collect();
    // RPC signature v1 from its published definition: sorted, RFC 3986-encoded parameters
    // (without Signature), `GET&%2F&` + the encoded query, HMAC-SHA1 keyed with `secret&`.
    const RFC3986: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, RFC3986).to_string();
    let canonical = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("GET&{}&{}", enc("/"), enc(&canonical));
    let hmac_key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        format!("{}&", pair.access_key_secret).as_bytes(),
    );
    let expected = base64::engine::general_purpose::STANDARD
        .encode(ring::hmac::sign(&hmac_key, to_sign.as_bytes()));
    let ok = params.get("AccessKeyId") == Some(&pair.access_key_id)
        && params.get("Signature") == Some(&expected);
    eprintln!(
        "signed with managed AccessKeyId {}: signature {}",
        pair.access_key_id,
        if ok { "verified" } else { "MISMATCH" }
    );
    provider.close().await;
    kms.shutdown().await;
    if ok {
        Ok(())
    } else {
        Err("signature mismatch".into())
    }
}

#[cfg(not(feature = "test-util"))]
async fn local_kms() -> Result<(), Box<dyn std::error::Error>> {
    Err("--local-kms needs `--features test-util`".into())
}
