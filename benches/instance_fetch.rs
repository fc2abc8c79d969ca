//! One full `GetSecretValue` through the instance client against LocalKms on loopback: sign,
//! HTTPS (kept-alive TLS connection) round trip, LocalKms's verification, decode.
//!
//! `cargo bench --features test-util --bench instance_fetch -- --warm-up-time 1 --measurement-time 2`

use aliyun_managed_credentials::config::HttpConfig;
use aliyun_managed_credentials::kms::instance::InstanceClient;
use aliyun_managed_credentials::kms::GetSecretValueRequest;
use aliyun_managed_credentials::testing::LocalKms;
use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (kms, client) = runtime.block_on(async {
        let kms = LocalKms::start().await.expect("LocalKms");
        let ap = kms.issue_access_point(&["*"]);
        kms.put_ram_credential("acs/ram/user/app");
        let client =
            InstanceClient::new(&kms.instance_config(&ap), &HttpConfig::default()).expect("client");
        (kms, client)
    });
    let request = GetSecretValueRequest::current("acs/ram/user/app");
    c.bench_function("instance/fetch_localkms_loopback", |b| {
        b.to_async(&runtime)
            .iter(|| async { client.fetch(&request).await.expect("fetch") })
    });
    runtime.block_on(kms.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
