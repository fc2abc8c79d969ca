//! Alibaba Cloud OSS through `object_store` (the storage layer of DataFusion and other engines),
//! signed with the AccessKey that KMS Secrets Manager hosts and rotates.
//!
//! ```text
//! # managed_credentials_providers.properties in the working directory (or
//! # ALIYUN_MANAGED_CREDENTIALS_FILE); the RAM user needs oss:PutObject/GetObject on the bucket.
//! cargo run --features object-store --example object_store_oss -- acs/ram/user/app my-bucket cn-hangzhou
//! ```
//!
//! It writes `aliyun-managed-credentials-example.txt`, reads it back and lists the bucket's root.
//! Needs Alibaba Cloud (KMS + OSS); the same code runs against a local S3 server in
//! `tests/integrations_object_store.rs`.

use std::sync::Arc;

use aliyun_managed_credentials::{with_access_key, ManagedCredentialsProvider};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// `AmazonS3` for an OSS bucket through OSS's S3-compatible API.
fn oss_store(
    provider: &ManagedCredentialsProvider,
    secret_name: &str,
    bucket: &str,
    region: &str,
) -> object_store::Result<AmazonS3> {
    AmazonS3Builder::new()
        // OSS's S3-compatible API answers virtual-hosted style only (bucket in the host name).
        // With a custom endpoint object_store expects the endpoint to name the bucket already
        // when virtual-hosted style is on: "https://{bucket}.s3.oss-{region}.aliyuncs.com", not
        // "https://s3.oss-{region}.aliyuncs.com" (that would send requests to the bare host).
        .with_endpoint(format!("https://{bucket}.s3.oss-{region}.aliyuncs.com"))
        .with_virtual_hosted_style_request(true)
        .with_region(region)
        .with_bucket_name(bucket)
        // Every request asks the provider, which answers from the shared cache (no I/O on a
        // hit) and follows rotations; object_store keeps no copy between requests.
        .with_credentials(Arc::new(provider.access_key_provider(secret_name)))
        // Payload signing. OSS rejects `aws-chunked` uploads; object_store 0.13 does not send
        // them (read in its 0.13.2 source): with signed payloads (the default, kept explicit
        // here) it hashes each PUT / part body up front and signs
        // `x-amz-content-sha256: <hex sha256>`, a plain SigV4 request with a Content-Length.
        // `with_unsigned_payload(true)` would send `UNSIGNED-PAYLOAD` instead (saves one SHA-256
        // pass over the body); not chosen because signed payloads are what our test ran. No
        // `with_checksum_algorithm`: it only adds `x-amz-checksum-sha256` headers, which we have
        // not checked against OSS, and the signed payload hash already covers the body.
        .with_unsigned_payload(false)
        .build()
}

/// The S3 error code (`<Code>` of the XML body) of a 401/403 answer. object_store has no hook to
/// report a rejected credential, so the caller reads the code and hands it to `with_access_key`.
fn s3_error_code(e: &object_store::Error) -> Option<String> {
    let (object_store::Error::PermissionDenied { source, .. }
    | object_store::Error::Unauthenticated { source, .. }) = e
    else {
        return None;
    };
    let text = source.to_string();
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(text[start..start + len].to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [secret_name, bucket, rest @ ..] = args.as_slice() else {
        eprintln!("usage: object_store_oss SECRET_NAME BUCKET [REGION (default cn-hangzhou)]");
        std::process::exit(2);
    };
    let region = rest.first().map_or("cn-hangzhou", String::as_str);

    let provider = ManagedCredentialsProvider::from_default_file().await?;
    let store = Arc::new(oss_store(&provider, secret_name, bucket, region)?);

    // A call whose key was revoked early (403 InvalidAccessKeyId) is reported and replayed once
    // with the new key; everything else behaves as a plain store call.
    let creds = provider.access_key_provider(secret_name.as_str());
    let path = Path::from("aliyun-managed-credentials-example.txt");
    let put = with_access_key(&creds, s3_error_code, |_key| {
        store.put(
            &path,
            PutPayload::from_static(b"hello from a managed AccessKey\n"),
        )
    })
    .await?;
    println!("PUT {path}: etag {:?}", put.e_tag);
    let (s, p) = (&store, &path);
    let body = with_access_key(&creds, s3_error_code, move |_key| async move {
        s.get(p).await?.bytes().await
    })
    .await?;
    println!("GET {path}: {}", String::from_utf8_lossy(&body).trim_end());
    let listing = store.list_with_delimiter(None).await?;
    for meta in listing.objects.iter().take(10) {
        println!("  {} ({} bytes)", meta.location, meta.size);
    }

    // Handing the store to an engine (not compiled here: no engine dependency).
    //
    // DataFusion 55 (object_store 0.13, the line this feature implements):
    //
    //     let ctx = datafusion::prelude::SessionContext::new();
    //     let url = url::Url::parse(&format!("s3://{bucket}"))?;
    //     ctx.register_object_store(&url, store.clone()); // Arc<AmazonS3> as Arc<dyn ObjectStore>
    //     ctx.register_parquet("events", &format!("s3://{bucket}/events/"), Default::default())
    //         .await?;
    //     ctx.sql("SELECT count(*) FROM events").await?.show().await?;
    //
    // Polars builds its stores itself from `CloudOptions`; its Rust hook for credentials is the
    // unstable `PlCredentialProvider::from_func`, a function returning
    // `(ObjectStoreCredential::Aws(Arc<AwsCredential>), expiry in UNIX seconds)`, and Polars caches
    // the credential until that expiry, so hand it the synthetic one. A sketch (not compiled or
    // run here):
    //
    //     let creds = provider.access_key_provider(secret_name);
    //     let pl = PlCredentialProvider::from_func(move || {
    //         let creds = creds.clone();
    //         Box::pin(async move {
    //             let key = creds.access_key().await.map_err(to_polars_error)?;
    //             let until = creds.valid_until(&key).duration_since(UNIX_EPOCH).unwrap().as_secs();
    //             let aws = AwsCredential {
    //                 key_id: key.access_key_id().into(),
    //                 secret_key: key.access_key_secret().into(),
    //                 token: None,
    //             };
    //             Ok((ObjectStoreCredential::Aws(Arc::new(aws)), until))
    //         })
    //     });
    //     // then CloudOptions::default().with_aws([endpoint "https://{bucket}.s3.oss-{region}…",
    //     //     virtual_hosted_style_request "true", region]).with_credential_provider(Some(pl))

    provider.close().await;
    Ok(())
}
