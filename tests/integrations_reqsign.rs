//! The reqsign adapter: a reqsign `Signer` for OSS signs with the managed key (correct V1
//! signature for the managed secret), switches after a rotation on LocalKms, and reports a
//! synthetic expiry that bounds how long reqsign keeps a key and how long a presigned URL may live.

mod integrations_support;

use std::time::{Duration, SystemTime};

use aliyun_managed_credentials::AccessKeyProvider;
use base64::Engine;
use integrations_support::{Setup, SECRET};
use reqsign_aliyun_oss::RequestSigner;
use reqsign_core::{Context, ProvideCredential, Signer};

const BUCKET: &str = "my-bucket";

fn parts() -> http::request::Parts {
    http::Request::get(format!(
        "https://{BUCKET}.oss-cn-hangzhou.aliyuncs.com/dir/a.txt"
    ))
    .body(())
    .unwrap()
    .into_parts()
    .0
}

fn signer(creds: AccessKeyProvider) -> Signer<reqsign_aliyun_oss::Credential> {
    Signer::new(Context::new(), creds, RequestSigner::new(BUCKET))
}

/// Signs a GET and returns (AccessKeyId, signature) from `Authorization: OSS id:sig`, after
/// checking the signature against `secret_of(id)` (OSS V1: HMAC-SHA1 over verb, MD5, type, date,
/// resource).
async fn sign_and_check(
    signer: &Signer<reqsign_aliyun_oss::Credential>,
    secret_of: impl Fn(&str) -> String,
) -> String {
    let mut p = parts();
    signer.sign(&mut p, None).await.expect("signs");
    let auth = p.headers["authorization"].to_str().unwrap().to_owned();
    let (id, sig) = auth
        .strip_prefix("OSS ")
        .and_then(|s| s.split_once(':'))
        .unwrap_or_else(|| panic!("unexpected Authorization {auth}"));
    let date = p.headers["date"].to_str().unwrap();
    let to_sign = format!("GET\n\n\n{date}\n/{BUCKET}/dir/a.txt");
    assert_eq!(
        sig,
        hmac_sha1_base64(secret_of(id).as_bytes(), to_sign.as_bytes()),
        "signed with the managed secret of {id}"
    );
    id.to_owned()
}

#[tokio::test]
async fn signed_oss_request_carries_the_managed_key_and_switches_after_rotation() {
    let setup = Setup::new().await;
    // Short synthetic validity so reqsign re-asks on every request (its cache keeps a key until
    // 120 s before expiry); production defaults are 5 min .. 1 h.
    let creds = setup
        .provider
        .access_key_provider(SECRET)
        .with_expiry_policy(integrations_support::expiry(
            Duration::from_secs(30),
            Some(Duration::from_secs(60)),
        ));
    let signer = signer(creds);
    let secret_of = |id: &str| setup.known.lock().unwrap()[id].clone();

    let old = setup.kms.current_access_key(SECRET).access_key_id.clone();
    assert_eq!(sign_and_check(&signer, secret_of).await, old);
    assert_eq!(sign_and_check(&signer, secret_of).await, old);

    let new = setup.rotate_and_revoke();
    // The provider picks the rotation up on its schedule or when a service rejects the old key;
    // here we force it.
    setup.provider.refresh_now(SECRET).await.unwrap();
    assert_eq!(sign_and_check(&signer, secret_of).await, new);
}

#[tokio::test]
async fn reported_expiry_is_the_next_refresh_within_the_policy_bounds() {
    let setup = Setup::new().await;
    let creds = setup.provider.access_key_provider(SECRET);
    let cred = creds
        .provide_credential(&Context::new())
        .await
        .unwrap()
        .expect("a credential");
    assert_eq!(
        cred.access_key_id,
        setup.kms.current_access_key(SECRET).access_key_id
    );
    assert!(cred.security_token.is_none());
    let expires = cred.expires_in.expect("never without expiry").as_second();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // LocalKms rotates every 7 days, the provider refreshes at most 6 h later: the 1 h cap wins.
    assert!(
        (now + 3600 - 5..=now + 3600 + 1).contains(&expires),
        "expires {expires}, now {now}"
    );
}

#[tokio::test]
async fn presigned_url_lifetime_is_bounded_by_min_validity() {
    let setup = Setup::new().await;
    let two_hours = Duration::from_secs(2 * 3600);

    let default = signer(setup.provider.access_key_provider(SECRET));
    let mut p = parts();
    let err = default.sign(&mut p, Some(two_hours)).await.unwrap_err();
    assert!(err.to_string().contains("expires before"), "{err}");

    let long = signer(
        setup
            .provider
            .access_key_provider(SECRET)
            .with_expiry_policy(integrations_support::expiry(
                Duration::from_secs(3 * 3600),
                None,
            )),
    );
    let mut p = parts();
    long.sign(&mut p, Some(two_hours)).await.expect("presigns");
    let query = p.uri.query().unwrap_or_default().to_owned();
    let id = setup.kms.current_access_key(SECRET).access_key_id.clone();
    assert!(query.contains(&format!("OSSAccessKeyId={id}")), "{query}");
}

/// base64(HMAC-SHA1(key, data)), computed with ring, independently of the crate.
fn hmac_sha1_base64(key: &[u8], data: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, data))
}
