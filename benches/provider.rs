//! Hot-path cost of a cached read against the baseline an application would write itself, a
//! `RwLock<HashMap<String, Arc<AccessKey>>>` lookup + `Arc` clone, and against moka's `get`,
//! measured in the same run on 1 and 2 threads (and the 2-thread loop on 1 thread, to compare
//! aggregate throughput like with like): `get_access_key`, `cached_access_key`, the
//! per-secret handle's `cached()` and its lending `with_cached`; allocations per hit and memory
//! per cached secret (counting allocator); a cold fetch through the whole cache (in-memory KMS,
//! and LocalKms over real TLS with `--features test-util`).
//!
//! cargo bench --bench provider [--features test-util] -- --warm-up-time 1 --measurement-time 2

use std::alloc::System;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use aliyun_managed_credentials::config::{Endpoint, SecretString};
use aliyun_managed_credentials::AccessKey;
use aliyun_managed_credentials::ManagedCredentialsProvider;
use aliyun_managed_credentials::{
    BoxFuture, GetSecretValueRequest, KmsClient, KmsError, SecretValue,
};
use criterion::{criterion_group, criterion_main, Criterion};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

/// Counts allocations so the bench can show that a hit allocates nothing and what a cached
/// secret costs in memory. `stats_alloc` wraps the system allocator, so this bench (like the
/// library) contains no `unsafe` of its own.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn allocations() -> u64 {
    GLOBAL.stats().allocations as u64
}

fn live_bytes() -> u64 {
    let stats = GLOBAL.stats();
    let live = stats.bytes_allocated as i128 + stats.bytes_reallocated as i128
        - stats.bytes_deallocated as i128;
    live.max(0) as u64
}

const NAME: &str = "acs/ram/user/app-prod";

fn value(name: &str) -> SecretValue {
    SecretValue {
        secret_name: name.into(),
        secret_type: "RAMCredentials".into(),
        secret_data: SecretString::from(
            r#"{"AccessKeyId":"LTAI5tExampleAccessKeyId","AccessKeySecret":"ExampleAccessKeySecret0123456789","GenerateTimestamp":"2024-02-01T08:00:00Z"}"#,
        ),
        secret_data_type: "text".into(),
        version_stages: vec!["ACSCurrent".into()],
        version_id: "00000000000000000000000000000003".into(),
        create_time: "2024-02-01T08:00:00Z".into(),
        request_id: "0c3f6a1e-0000-0000-0000-000000000000".into(),
        last_rotation_date: "2024-02-01T08:00:00Z".into(),
        next_rotation_date: "2099-02-08T08:00:00Z".into(),
        extended_config: r#"{"SecretSubType":"RamUserAccessKey","UserName":"app"}"#.into(),
        automatic_rotation: "Enabled".into(),
        rotation_interval: "604800s".into(),
    }
}

#[derive(Debug)]
struct InMemoryKms(Endpoint);

impl KmsClient for InMemoryKms {
    fn endpoint(&self) -> &Endpoint {
        &self.0
    }
    fn get_secret_value<'a>(
        &'a self,
        request: &'a GetSecretValueRequest,
    ) -> BoxFuture<'a, Result<SecretValue, KmsError>> {
        Box::pin(async move { Ok(value(&request.secret_name)) })
    }
}

fn provider(rt: &tokio::runtime::Runtime) -> ManagedCredentialsProvider {
    rt.block_on(async {
        ManagedCredentialsProvider::builder()
            .client(Arc::new(InMemoryKms(Endpoint {
                host: "kms.bench".into(),
                port: 443,
            })))
            .build()
            .await
            .unwrap()
    })
}

/// `ak` is a real key from the provider, so the baseline clones the same `Arc<AccessKey>`.
fn baseline_map(ak: Arc<AccessKey>) -> RwLock<HashMap<String, Arc<AccessKey>>> {
    // A realistic map: a handful of secrets.
    (0..8)
        .map(|i| (format!("acs/ram/user/other-{i}"), ak.clone()))
        .chain([(NAME.to_owned(), ak.clone())])
        .collect::<HashMap<_, _>>()
        .into()
}

fn hits(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let p = provider(&rt);
    rt.block_on(async {
        for i in 0..8 {
            p.get_access_key(&format!("acs/ram/user/other-{i}"))
                .await
                .unwrap();
        }
        p.get_access_key(NAME).await.unwrap();
    });
    let key = rt.block_on(p.get_access_key(NAME)).unwrap();
    let map = Arc::new(baseline_map(key.clone()));
    let moka: moka::sync::Cache<String, Arc<AccessKey>> = moka::sync::Cache::new(1000);
    for i in 0..8 {
        moka.insert(format!("acs/ram/user/other-{i}"), key.clone());
    }
    moka.insert(NAME.to_owned(), key.clone());
    let handle = p.access_key_provider(NAME);

    let mut g = c.benchmark_group("hit_1_thread");
    g.bench_function("baseline_rwlock_hashmap_get_arc_clone", |b| {
        b.iter(|| black_box(map.read().unwrap().get(black_box(NAME)).cloned()))
    });
    g.bench_function("moka_sync_get", |b| {
        b.iter(|| black_box(moka.get(black_box(NAME))))
    });
    g.bench_function("provider_cached_access_key", |b| {
        b.iter(|| black_box(p.cached_access_key(black_box(NAME))))
    });
    g.bench_function("provider_get_access_key_async", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(p.get_access_key(black_box(NAME)).await.unwrap()) })
    });
    g.bench_function("handle_cached", |b| b.iter(|| black_box(handle.cached())));
    g.bench_function("handle_with_cached_lend", |b| {
        b.iter(|| black_box(handle.with_cached(|k| k.access_key_id().len())))
    });
    g.finish();

    // Two threads reading the same secret at once; time per operation of the slower thread.
    // The same loop on one thread first, so "aggregate on two threads vs one thread" compares
    // like with like (criterion's `iter` above adds its own per-iteration cost).
    let mut g = c.benchmark_group("hit_loop_1_thread");
    g.bench_function("baseline_rwlock_hashmap_get_arc_clone", |b| {
        b.iter_custom(|iters| {
            threads(1, iters, {
                let m = map.clone();
                move || {
                    black_box(m.read().unwrap().get(black_box(NAME)).cloned());
                }
            })
        })
    });
    g.bench_function("provider_cached_access_key", |b| {
        b.iter_custom(|iters| {
            threads(1, iters, {
                let p = p.clone();
                move || {
                    black_box(p.cached_access_key(black_box(NAME)));
                }
            })
        })
    });
    g.bench_function("handle_cached", |b| {
        b.iter_custom(|iters| {
            threads(1, iters, {
                let h = handle.clone();
                move || {
                    black_box(h.cached());
                }
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("hit_2_threads");
    g.bench_function("baseline_rwlock_hashmap_get_arc_clone", |b| {
        b.iter_custom(|iters| {
            threads(2, iters, {
                let m = map.clone();
                move || {
                    black_box(m.read().unwrap().get(black_box(NAME)).cloned());
                }
            })
        })
    });
    g.bench_function("moka_sync_get", |b| {
        b.iter_custom(|iters| {
            threads(2, iters, {
                let m = moka.clone();
                move || {
                    black_box(m.get(black_box(NAME)));
                }
            })
        })
    });
    g.bench_function("provider_cached_access_key", |b| {
        b.iter_custom(|iters| {
            threads(2, iters, {
                let p = p.clone();
                move || {
                    black_box(p.cached_access_key(black_box(NAME)));
                }
            })
        })
    });
    g.bench_function("handle_cached", |b| {
        b.iter_custom(|iters| {
            threads(2, iters, {
                let h = handle.clone();
                move || {
                    black_box(h.cached());
                }
            })
        })
    });
    g.bench_function("handle_with_cached_lend", |b| {
        b.iter_custom(|iters| {
            threads(2, iters, {
                let h = handle.clone();
                move || {
                    black_box(h.with_cached(|k| k.access_key_id().len()));
                }
            })
        })
    });
    g.finish();

    // Allocations per hit (expected: 0) and memory per cached secret.
    let before = allocations();
    for _ in 0..100_000 {
        black_box(p.cached_access_key(NAME));
    }
    let per_hit = (allocations() - before) as f64 / 100_000.0;
    let n = 1000;
    let live_before = live_bytes();
    let p2 = provider(&rt);
    rt.block_on(async {
        for i in 0..n {
            p2.get_access_key(&format!("acs/ram/user/app-{i:04}"))
                .await
                .unwrap();
        }
    });
    let live_after = live_bytes();
    println!(
        "allocations per cached hit: {per_hit}; live heap per cached secret ({n} secrets): {} bytes",
        (live_after - live_before) / n
    );
    rt.block_on(p2.close());
}

/// Runs `op` `iters` times on each of `n` threads at once; returns the slowest thread's time.
fn threads(n: usize, iters: u64, op: impl Fn() + Send + Clone + 'static) -> Duration {
    let barrier = Arc::new(std::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let op = op.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..iters {
                    op();
                }
                start.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .max()
        .unwrap_or_default()
}

fn cold(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let p = provider(&rt);
    let mut g = c.benchmark_group("cold_fetch");
    g.bench_function("in_memory_kms_refresh_now", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(p.refresh_now(NAME).await.unwrap()) })
    });
    #[cfg(feature = "test-util")]
    localkms::cold(&rt, &mut g);
    g.finish();
}

/// A real fetch: ClientKey RSA signature, TLS 1.3 to 127.0.0.1 (kept-alive connection),
/// protobuf, parsing and install.
#[cfg(feature = "test-util")]
mod localkms {
    use super::*;
    use aliyun_managed_credentials::testing::LocalKms;

    pub fn cold(
        rt: &tokio::runtime::Runtime,
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ) {
        let (kms, provider) = rt.block_on(async {
            let kms = LocalKms::start().await.unwrap();
            let ap = kms.issue_access_point(&["*"]);
            kms.put_ram_credential(NAME);
            let p = ManagedCredentialsProvider::from_properties_file(&ap.properties_file)
                .await
                .unwrap();
            p.get_access_key(NAME).await.unwrap();
            (kms, p)
        });
        g.bench_function("localkms_tls_refresh_now", |b| {
            b.to_async(rt)
                .iter(|| async { black_box(provider.refresh_now(NAME).await.unwrap()) })
        });
        rt.block_on(async {
            provider.close().await;
            kms.shutdown().await;
        });
    }
}

criterion_group!(benches, hits, cold);
criterion_main!(benches);
