//! The ossify and rusty-oss adapters against LocalKms: they hand out the managed AccessKey (with
//! the synthetic expiry for ossify) and follow a rotation.

mod integrations_support;

use std::time::{Duration, SystemTime};

use aliyun_managed_credentials::integrations::rusty_oss::rotating_credentials;
use integrations_support::{Setup, SECRET};
use ossify::credentials::CredentialsProvider;

#[tokio::test]
async fn ossify_provider_returns_the_managed_key_with_expiry_and_follows_rotation() {
    let setup = Setup::new().await;
    let creds = setup
        .provider
        .access_key_provider(SECRET)
        .with_expiry_policy(integrations_support::expiry(
            Duration::from_secs(60),
            Some(Duration::from_secs(600)),
        ));
    let current = setup.kms.current_access_key(SECRET);

    let first = creds.get_credentials().await.unwrap();
    assert_eq!(first.access_key_id, current.access_key_id);
    assert_eq!(first.access_key_secret, current.access_key_secret);
    assert!(first.security_token.is_none());
    let expiration = first.expiration.expect("expiration is always set");
    let now = jiff::Timestamp::try_from(SystemTime::now()).unwrap();
    let left = expiration.as_second() - now.as_second();
    // LocalKms rotates weekly, so the 10 min cap of the policy decides.
    assert!((590..=601).contains(&left), "expires in {left} s");

    let new_id = setup.rotate_and_revoke();
    setup.provider.refresh_now(SECRET).await.unwrap();
    let second = creds.get_credentials().await.unwrap();
    assert_eq!(second.access_key_id, new_id);
    assert_eq!(
        second.access_key_secret,
        setup.kms.current_access_key(SECRET).access_key_secret
    );
}

#[tokio::test]
async fn rusty_oss_rotating_credentials_receive_each_new_key() {
    let setup = Setup::new().await;
    let creds = setup.provider.access_key_provider(SECRET);
    let (rotating, task) = rotating_credentials(&creds).await.unwrap();
    let current = setup.kms.current_access_key(SECRET);
    assert_eq!(rotating.get().key(), current.access_key_id);
    assert_eq!(rotating.get().secret(), current.access_key_secret);

    let new_id = setup.rotate_and_revoke();
    setup.provider.refresh_now(SECRET).await.unwrap();
    // The push happens on the subscription task; give it a moment (bounded, no fixed sleep).
    tokio::time::timeout(Duration::from_secs(5), async {
        while rotating.get().key() != new_id {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("rusty-oss credentials follow the rotation");
    assert_eq!(
        rotating.get().secret(),
        setup.kms.current_access_key(SECRET).access_key_secret
    );

    setup.provider.close().await;
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the push task ends when the provider closes")
        .unwrap();
}
