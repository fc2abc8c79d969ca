//! A KMS instance's own gateway (`{instanceId}.cryptoservice.kms.aliyuncs.com`) reached with a
//! RAM identity, configured the way the official v2 clients configure it — a
//! `cache_client_region_id` entry with `endpoint` and `caFilePath` — and V3 signatures on the
//! shared gateway (`signatureVersion`), through the public API against LocalKms over real TLS.

use aliyun_managed_credentials::config::{
    Config, ConfigBuilder, ConfigError, GatewayEndpointConfig, GatewaySignature, KmsIdentity,
};
use aliyun_managed_credentials::testing::{AccessKeyPair, LocalKms};
use aliyun_managed_credentials::ManagedCredentialsProvider;

const NAME: &str = "acs/ram/user/app-prod";

fn ak_properties(caller: &AccessKeyPair, regions: &str) -> String {
    format!(
        "credentials_type=ak\ncredentials_access_key_id={}\ncredentials_access_secret={}\ncache_client_region_id={regions}\n",
        caller.access_key_id, caller.access_key_secret
    )
}

fn json(value: impl AsRef<str>) -> String {
    serde_json::Value::String(value.as_ref().to_owned()).to_string()
}

async fn provider_from(kms: &LocalKms, file: &str, text: &str) -> ManagedCredentialsProvider {
    let path = kms.dir().join(file);
    std::fs::write(&path, text).unwrap();
    ManagedCredentialsProvider::from_properties_file(&path)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_access_key_fetches_from_the_instance_gateway_configured_like_the_v2_clients() {
    let kms = LocalKms::start().await.unwrap();
    let pair = kms.put_ram_credential(NAME);
    let caller = kms.register_access_key(&["acs/ram/user/*"]);
    let regions = format!(
        "[{{\"regionId\":\"cn-hangzhou\",\"endpoint\":{},\"caFilePath\":{},\"connectTo\":{}}}]",
        json(kms.instance_id().to_owned() + ".cryptoservice.kms.aliyuncs.com"),
        json(kms.ca_file().display().to_string()),
        json(kms.addr().to_string()),
    );
    let p = provider_from(
        &kms,
        "instance_gateway.properties",
        &ak_properties(&caller, &regions),
    )
    .await;
    let key = p.get_access_key(NAME).await.unwrap();
    assert_eq!(key.access_key_id(), pair.access_key_id);
    p.close().await;
    let requests = kms.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].protocol, "instance-gateway-v3");
    assert_eq!(requests[0].key_id, caller.access_key_id);
}

#[tokio::test]
async fn signature_version_v3_sends_v3_to_the_shared_gateway() {
    let kms = LocalKms::start().await.unwrap();
    let pair = kms.put_ram_credential(NAME);
    let caller = kms.register_access_key(&["*"]);
    let gateway = kms.gateway_config();
    let regions = format!(
        "[{{\"regionId\":\"cn-hangzhou\",\"endpoint\":{},\"caFilePath\":{},\"connectTo\":{},\"signatureVersion\":\"v3\"}}]",
        json(gateway.endpoint.to_string()),
        json(kms.ca_file().display().to_string()),
        json(kms.gateway_addr().to_string()),
    );
    let p = provider_from(
        &kms,
        "shared_v3.properties",
        &ak_properties(&caller, &regions),
    )
    .await;
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        pair.access_key_id
    );
    p.close().await;
    assert_eq!(kms.requests()[0].protocol, "gateway-v3");
}

#[tokio::test]
async fn the_builder_takes_the_same_instance_gateway_entry() {
    let kms = LocalKms::start().await.unwrap();
    let pair = kms.put_ram_credential(NAME);
    let caller = kms.register_access_key(&["*"]);
    let config = ConfigBuilder::new()
        .with_identity(KmsIdentity::AccessKey {
            access_key_id: caller.access_key_id.clone(),
            access_key_secret: caller.access_key_secret.as_str().into(),
        })
        .add_gateway(kms.instance_gateway_config())
        .build()
        .unwrap();
    let p = ManagedCredentialsProvider::from_config(config)
        .await
        .unwrap();
    assert_eq!(
        p.get_access_key(NAME).await.unwrap().access_key_id(),
        pair.access_key_id
    );
    p.close().await;
    assert_eq!(kms.requests()[0].protocol, "instance-gateway-v3");
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_properties_str(text, "/base", "app.properties")
}

const AK: &str = "credentials_type=ak\ncredentials_access_key_id=LTAI5tExample\ncredentials_access_secret=example-secret\n";

#[test]
fn an_instance_gateway_without_ca_file_is_a_config_error_naming_the_field() {
    let text = format!(
        "{AK}cache_client_region_id=[{{\"regionId\":\"cn-hangzhou\"}},{{\"regionId\":\"cn-hangzhou\",\"endpoint\":\"kst-hzz65f1b2c3d4e5f6g7h8.cryptoservice.kms.aliyuncs.com\"}}]\n"
    );
    let err = load(&text).unwrap_err();
    assert!(matches!(err, ConfigError::MissingField { .. }), "{err:?}");
    let message = err.to_string();
    for part in [
        "app.properties",
        "cache_client_region_id",
        "caFilePath",
        "entry 2",
        "line 4",
        "PrivateKmsCA_",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert!(!message.contains("example-secret"), "{message}");
}

#[test]
fn signature_versions_parse_and_bad_ones_are_named() {
    let entry = |extra: &str| {
        format!("{AK}cache_client_region_id=[{{\"regionId\":\"cn-hangzhou\"{extra}}}]\n")
    };
    let config = load(&entry(",\"signatureVersion\":\"v3\"")).unwrap();
    assert_eq!(
        config.gateways[0].signature,
        Some(GatewaySignature::Acs3HmacSha256)
    );
    let config = load(&entry(",\"signatureVersion\":\"v1\"")).unwrap();
    assert_eq!(config.gateways[0].signature, Some(GatewaySignature::RpcV1));
    assert_eq!(load(&entry("")).unwrap().gateways[0].signature, None);
    let err = load(&entry(",\"signatureVersion\":\"v2\"")).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ConfigError::InvalidValue { .. }), "{err:?}");
    assert!(
        message.contains("signatureVersion") && message.contains("`v2`"),
        "{message}"
    );
}

#[test]
fn a_client_key_is_refused_on_an_instance_gateway_entry_and_with_v3() {
    let client_key = "credentials_type=client_key\nclient_key_private_key_path=clientKey.json\nclient_key_password_from_file_path=pw.txt\n";
    let text = format!(
        "{client_key}cache_client_region_id=[{{\"regionId\":\"cn-hangzhou\",\"endpoint\":\"kst-1.cryptoservice.kms.aliyuncs.com\",\"caFilePath\":\"ca.pem\"}}]\n"
    );
    let message = load(&text).unwrap_err().to_string();
    assert!(
        message.contains("cache_client_dkms_config_info"),
        "{message}"
    );
    let text = format!(
        "{client_key}cache_client_region_id=[{{\"regionId\":\"cn-hangzhou\",\"signatureVersion\":\"v3\"}}]\n"
    );
    let message = load(&text).unwrap_err().to_string();
    assert!(
        message.contains("SHA256withRSA") && message.contains("signatureVersion"),
        "{message}"
    );

    // The builder applies the same checks.
    let err = ConfigBuilder::new()
        .with_access_key("LTAI5tExample", "example-secret")
        .add_gateway(GatewayEndpointConfig {
            ca_file: None,
            ..GatewayEndpointConfig {
                endpoint: "kst-1.cryptoservice.kms.aliyuncs.com".parse().unwrap(),
                ..GatewayEndpointConfig::for_region("cn-hangzhou")
            }
        })
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("caFilePath"), "{err}");
}

/// Opt-in: `ALIYUN_MC_TEST_PYTHON_V2=/path/to/python` with PyPI
/// `alibabacloud-secretsmanager-client-v2` installed. The official v2 client, configured only
/// through its documented variables (AccessKey, `cache_client_region_id` with the instance
/// endpoint and `caFilePath`; the shared gateway with the LocalKms root added to its public
/// roots), fetches a secret from LocalKms over real TLS with V3 signatures that LocalKms verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_v2_client_fetches_from_localkms() {
    let Ok(python) = std::env::var("ALIYUN_MC_TEST_PYTHON_V2") else {
        eprintln!("skipped: set ALIYUN_MC_TEST_PYTHON_V2 to a python with alibabacloud-secretsmanager-client-v2");
        return;
    };
    let kms = LocalKms::start().await.unwrap();
    let pair = kms.put_ram_credential(NAME);
    let caller = kms.register_access_key(&["acs/ram/user/*"]);
    let instance_host = format!("{}.cryptoservice.kms.aliyuncs.com", kms.instance_id());
    let shared_host = kms.gateway_endpoint().host;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python/secretsmanager_v2_fetch.py");
    for (label, region, protocol) in [
        (
            "instance gateway",
            serde_json::json!({"regionId": kms.region_id(), "endpoint": instance_host, "caFilePath": kms.ca_file()}),
            "instance-gateway-v3",
        ),
        (
            "shared gateway",
            serde_json::json!({"regionId": kms.region_id()}),
            "gateway-v3",
        ),
    ] {
        let info = serde_json::json!({
            "hosts": {
                instance_host.clone(): kms.addr().port(),
                shared_host.clone(): kms.gateway_addr().port(),
            },
            "access_key_id": caller.access_key_id,
            "access_key_secret": caller.access_key_secret,
            "regions": [region],
            "secret_names": [NAME],
            // Only for the shared gateway: stands in for a public root.
            "public_root": (protocol == "gateway-v3").then(|| kms.ca_file()),
        });
        let info_file = kms.dir().join("python_v2_info.json");
        std::fs::write(&info_file, info.to_string()).unwrap();
        // An empty working directory: no secretsmanager.properties is picked up.
        let cwd = tempfile::tempdir().unwrap();
        kms.clear_requests();
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(120),
            tokio::process::Command::new(&python)
                .arg(&script)
                .arg(&info_file)
                .current_dir(cwd.path())
                .output(),
        )
        .await
        .expect("the client finishes within 120 s")
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{label}: {stderr}");
        assert!(!stderr.contains(caller.access_key_secret.as_str()));
        let doc: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(
            doc[NAME]["AccessKeyId"],
            pair.access_key_id.as_str(),
            "{label}"
        );
        let requests = kms.requests();
        assert_eq!(requests.len(), 1, "{label}: {requests:?}");
        assert_eq!(requests[0].protocol, protocol, "{label}");
        assert_eq!(requests[0].outcome, "OK", "{label}");
        assert_eq!(requests[0].key_id, caller.access_key_id, "{label}");
    }
}
