//! One full `GetSecretValue` against LocalKms on loopback through the public API
//! (`refresh_now`, which always fetches): sign with the ClientKey, HTTPS round trip on a
//! kept-alive TLS connection, LocalKms's verification, decode, and the cache update.
//!
//! `cargo bench --features test-util --bench instance_fetch -- --warm-up-time 1 --measurement-time 2`

use aliyun_managed_credentials::testing::LocalKms;
use aliyun_managed_credentials::ManagedCredentialsProvider;
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (kms, provider) = runtime.block_on(async {
        let kms = LocalKms::start().await.expect("LocalKms");
        let ap = kms.issue_access_point(&["*"]);
        kms.put_ram_credential("acs/ram/user/app");
        let provider = ManagedCredentialsProvider::from_properties_file(&ap.properties_file)
            .await
            .expect("provider");
        (kms, provider)
    });
    c.bench_function("instance/fetch_localkms_loopback", |b| {
        b.to_async(&runtime).iter(|| async {
            provider
                .refresh_now("acs/ram/user/app")
                .await
                .expect("fetch")
        })
    });
    runtime.block_on(async {
        provider.close().await;
        kms.shutdown().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
