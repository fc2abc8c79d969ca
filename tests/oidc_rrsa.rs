//! RRSA / OIDC callers through the public API only: a provider built from a properties file
//! (`credentials_type=oidc_role_arn` with every key) and one whose role, provider and token file
//! come from the `ALIBABA_CLOUD_*` variables RRSA injects, both reading a managed AccessKey
//! from LocalKms over real TLS after an anonymous STS `AssumeRoleWithOIDC`.
//!
//! This is its own test binary because one test sets process environment variables; no other
//! test in it depends on them (the properties-file test gives every value explicitly).

use aliyun_managed_credentials::testing::LocalKms;
use aliyun_managed_credentials::ManagedCredentialsProvider;

const NAME: &str = "acs/ram/user/rrsa-app";

#[tokio::test]
async fn oidc_caller_from_a_properties_file() {
    let kms = LocalKms::start().await.unwrap();
    let pair = kms.put_ram_credential(NAME);
    let role = kms.register_oidc_role(&["acs/ram/user/*"]);
    let path = kms.dir().join("rrsa.properties");
    std::fs::write(&path, kms.oidc_properties(&role, false)).unwrap();

    let provider = ManagedCredentialsProvider::from_properties_file(&path)
        .await
        .unwrap();
    let key = provider.get_access_key(NAME).await.unwrap();
    assert_eq!(key.access_key_id(), pair.access_key_id);
    provider.close().await;

    let sts = kms.oidc_sts_requests();
    assert_eq!(sts.len(), 1);
    assert_eq!(sts[0].http_status, 200);
    assert_eq!(sts[0].role_session_name, "localkms-rrsa");
    let gateway = kms.requests();
    assert!(!gateway.is_empty());
    assert!(gateway
        .iter()
        .all(|r| Some(&r.key_id) == sts[0].issued_access_key_id.as_ref()));
    // Like the v2 clients, an OIDC caller signs V3 (ACS3-HMAC-SHA256) by default.
    assert!(
        gateway.iter().all(|r| r.protocol == "gateway-v3"),
        "{:?}",
        gateway.iter().map(|r| &r.protocol).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn oidc_caller_from_rrsa_environment_variables() {
    let kms = LocalKms::start().await.unwrap();
    let pair = kms.put_ram_credential(NAME);
    let role = kms.register_oidc_role(&["acs/ram/user/*"]);
    let path = kms.dir().join("rrsa-env.properties");
    let text = kms.oidc_properties(&role, true);
    assert!(!text.contains(&role.role_arn) && !text.contains("oidc_token_file"));
    std::fs::write(&path, text).unwrap();
    for (name, value) in role.environment() {
        std::env::set_var(name, value);
    }

    let provider = ManagedCredentialsProvider::from_properties_file(&path)
        .await
        .unwrap();
    let key = provider.get_access_key(NAME).await.unwrap();
    assert_eq!(key.access_key_id(), pair.access_key_id);
    provider.close().await;

    let sts = kms.oidc_sts_requests();
    assert_eq!(sts.len(), 1);
    assert_eq!(sts[0].http_status, 200);
    assert_eq!(sts[0].role_session_name, "localkms-rrsa-env");
    assert_eq!(sts[0].token_generation, Some(1));
}
