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

use aliyun_managed_credentials::integrations::rpc::RpcRequest;
use aliyun_managed_credentials::ManagedCredentialsProvider;

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
    use std::sync::Arc;

    use aliyun_managed_credentials::config::HttpConfig;
    use aliyun_managed_credentials::identity::rpc_hmac_sha1_signature;
    use aliyun_managed_credentials::integrations::rpc::rpc_string_to_sign;
    use aliyun_managed_credentials::kms::instance::InstanceClient;
    use aliyun_managed_credentials::testing::LocalKms;

    let name = "acs/ram/user/app";
    let kms = LocalKms::start().await?;
    let ap = kms.issue_access_point(&["*"]);
    let pair = kms.put_ram_credential(name);
    let client = InstanceClient::new(&kms.instance_config(&ap), &HttpConfig::default())?;
    let provider = ManagedCredentialsProvider::builder()
        .client(Arc::new(client))
        .build()
        .await?;

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
    let expected =
        rpc_hmac_sha1_signature(&pair.access_key_secret, &rpc_string_to_sign("GET", &params));
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
