//! `with_access_key` against LocalKms and a loopback API that rejects the old key after a
//! rotation: no failed call reaches the caller, and the replay happens exactly once and only
//! when a different key is current.

mod integrations_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aliyun_managed_credentials::RpcRequest;
use aliyun_managed_credentials::{with_access_key, AccessKeyProvider, CallError};
use integrations_support::{code_of, http_get, ApiError, Downstream, Mode, Setup, SECRET};

/// One RPC call to the downstream, counting attempts.
async fn call(
    creds: &AccessKeyProvider,
    api: &Downstream,
    attempts: &AtomicUsize,
) -> Result<String, CallError<ApiError>> {
    with_access_key(
        creds,
        |e: &ApiError| e.code.clone(),
        |ak| async move {
            attempts.fetch_add(1, Ordering::SeqCst);
            let query = RpcRequest::new("GET", "DescribeRegions", "2014-05-26")
                .param("RegionId", "cn-hangzhou")
                .sign(&ak);
            let (status, body) = http_get(api.addr, &format!("/?{query}")).await;
            if status == 200 {
                Ok(body)
            } else {
                Err(ApiError {
                    status,
                    code: code_of(&body),
                })
            }
        },
    )
    .await
}

#[tokio::test]
async fn rotation_with_revocation_costs_one_replay_and_no_failed_call() {
    let setup = Setup::new().await;
    let api = Downstream::start(&setup).await;
    let creds = setup.provider.access_key_provider(SECRET);
    let attempts = AtomicUsize::new(0);

    let old_id = setup.kms.current_access_key(SECRET).access_key_id.clone();
    for _ in 0..3 {
        let body = call(&creds, &api, &attempts).await.expect("call succeeds");
        assert!(body.contains(&old_id));
    }
    let fetches_before = setup.kms.request_count(SECRET);

    let new_id = setup.rotate_and_revoke();
    assert_ne!(new_id, old_id);
    for _ in 0..5 {
        let body = call(&creds, &api, &attempts)
            .await
            .expect("no failed call reaches the caller");
        assert!(body.contains(&new_id), "{body}");
    }

    assert_eq!(
        attempts.load(Ordering::SeqCst),
        3 + 5 + 1,
        "exactly one replay"
    );
    assert_eq!(api.rejected.load(Ordering::SeqCst), 1);
    assert_eq!(api.accepted.load(Ordering::SeqCst), 8);
    assert_eq!(
        setup.kms.request_count(SECRET) - fetches_before,
        1,
        "one forced refresh"
    );
    assert_eq!(
        creds.cached().unwrap().unwrap().access_key_id(),
        new_id.as_str()
    );
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh_and_replay_at_most_once_each() {
    let setup = Setup::new().await;
    let api = Arc::new(Downstream::start(&setup).await);
    let creds = setup.provider.access_key_provider(SECRET);
    setup.provider.get_access_key(SECRET).await.unwrap();
    let fetches_before = setup.kms.request_count(SECRET);
    setup.rotate_and_revoke();

    let attempts = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (creds, api, attempts) = (creds.clone(), Arc::clone(&api), Arc::clone(&attempts));
        tasks.push(tokio::spawn(async move {
            let mine = AtomicUsize::new(0);
            let r = call(&creds, &api, &mine).await;
            attempts.fetch_add(mine.load(Ordering::SeqCst), Ordering::SeqCst);
            (r.is_ok(), mine.load(Ordering::SeqCst))
        }));
    }
    for t in tasks {
        let (ok, mine) = t.await.unwrap();
        assert!(ok, "no failed call reaches the caller");
        assert!(
            mine <= 2,
            "at most one replay per call, got {mine} attempts"
        );
    }
    let rejected = api.rejected.load(Ordering::SeqCst);
    assert_eq!(attempts.load(Ordering::SeqCst), 16 + rejected);
    assert_eq!(
        setup.kms.request_count(SECRET) - fetches_before,
        1,
        "all rejections share one forced refresh"
    );
}

#[tokio::test]
async fn no_replay_when_the_key_did_not_change() {
    let setup = Setup::new().await;
    let api = Downstream::start(&setup).await;
    let creds = setup.provider.access_key_provider(SECRET);
    let attempts = AtomicUsize::new(0);
    call(&creds, &api, &attempts).await.unwrap();
    let fetches_before = setup.kms.request_count(SECRET);

    // The service calls the key dead, but KMS still hands out the same one: replaying cannot help.
    api.set_mode(Mode::RejectAll);
    let err = call(&creds, &api, &attempts).await.unwrap_err();
    match err {
        CallError::Operation(e) => {
            assert_eq!(e.status, 404);
            assert_eq!(e.code.as_deref(), Some("InvalidAccessKeyId.NotFound"));
        }
        other => panic!("expected the operation error, got {other:?}"),
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 2, "no replay");
    assert_eq!(
        setup.kms.request_count(SECRET) - fetches_before,
        1,
        "one forced refresh to check"
    );
}

#[tokio::test]
async fn errors_that_are_not_about_the_key_are_returned_untouched() {
    let setup = Setup::new().await;
    let api = Downstream::start(&setup).await;
    let creds = setup.provider.access_key_provider(SECRET);
    let attempts = AtomicUsize::new(0);
    call(&creds, &api, &attempts).await.unwrap();
    let fetches_before = setup.kms.request_count(SECRET);

    api.set_mode(Mode::Throttle);
    let err = match call(&creds, &api, &attempts).await.unwrap_err() {
        CallError::Operation(e) => e,
        CallError::Credentials(e) => panic!("expected the operation's error, got {e}"),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(err.code.as_deref(), Some("Throttling.User"));
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(
        setup.kms.request_count(SECRET),
        fetches_before,
        "no refresh"
    );
}

#[tokio::test]
async fn credentials_failure_is_reported_without_running_the_operation() {
    let setup = Setup::new().await;
    let creds = setup
        .provider
        .access_key_provider("acs/ram/user/does-not-exist");
    let ran = AtomicUsize::new(0);
    let r: Result<(), CallError<ApiError>> = with_access_key(
        &creds,
        |e: &ApiError| e.code.clone(),
        |_ak| {
            ran.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        },
    )
    .await;
    let err = r.unwrap_err();
    assert!(matches!(err, CallError::Credentials(_)), "{err:?}");
    match &err {
        CallError::Credentials(e) => assert!(e.to_string().contains("does-not-exist"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}
