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
/// through its documented variables, fetches a secret from LocalKms over real TLS with V3
/// signatures that LocalKms verifies, through the instance gateway (`cache_client_region_id`
/// with the instance endpoint and `caFilePath`) and the shared gateway (the LocalKms root added
/// to its public roots), as:
/// * an AccessKey (`credentials_type=ak`);
/// * RRSA / OIDC (`credentials_type=oidc_role_arn` with role ARN, OIDC provider ARN, token file,
///   session name and `credentials_sts_region_id`): one anonymous `AssumeRoleWithOIDC` to
///   `sts.{region}.aliyuncs.com` with the token LocalKms issued, then the KMS request signed
///   with the issued STS session (`x-acs-security-token`);
/// * the credentials library's default chain (no `credentials_type`, the RRSA variables with
///   `ALIBABA_CLOUD_STS_REGION` and `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true`), which takes the
///   same OIDC path through `sts-vpc.{region}.aliyuncs.com`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_v2_client_fetches_from_localkms() {
    let Ok(python) = std::env::var("ALIYUN_MC_TEST_PYTHON_V2") else {
        eprintln!("skipped: set ALIYUN_MC_TEST_PYTHON_V2 to a python with alibabacloud-secretsmanager-client-v2");
        return;
    };
    let kms = LocalKms::start().await.unwrap();
    let pair = kms.put_ram_credential(NAME);
    let caller = kms.register_access_key(&["acs/ram/user/*"]);
    let role = kms.register_oidc_role(&["acs/ram/user/*"]);
    let region = kms.region_id().to_owned();
    let instance_host = format!("{}.cryptoservice.kms.aliyuncs.com", kms.instance_id());
    let shared_host = kms.gateway_endpoint().host;
    let sts_host = format!("sts.{region}.aliyuncs.com");
    let sts_vpc_host = format!("sts-vpc.{region}.aliyuncs.com");
    let instance_entry = serde_json::json!([{"regionId": region, "endpoint": instance_host, "caFilePath": kms.ca_file()}]).to_string();
    let shared_entry = serde_json::json!([{"regionId": region}]).to_string();
    let ak = |regions: &str| {
        serde_json::json!({
            "credentials_type": "ak",
            "credentials_access_key_id": caller.access_key_id,
            "credentials_access_secret": caller.access_key_secret.as_str(),
            "cache_client_region_id": regions,
        })
    };
    const SESSION: &str = "python-v2-oidc";
    let oidc = |regions: &str| {
        serde_json::json!({
            "credentials_type": "oidc_role_arn",
            "credentials_role_arn": role.role_arn,
            "credentials_oidc_provider_arn": role.oidc_provider_arn,
            "credentials_oidc_token_file_path": role.token_file,
            "credentials_role_session_name": SESSION,
            "credentials_sts_region_id": region,
            "cache_client_region_id": regions,
        })
    };
    let mut default_chain: serde_json::Map<String, serde_json::Value> = role
        .environment()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
    default_chain.insert("ALIBABA_CLOUD_STS_REGION".into(), region.clone().into());
    default_chain.insert("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED".into(), "true".into());
    default_chain.insert(
        "cache_client_region_id".into(),
        instance_entry.clone().into(),
    );
    let default_session = role
        .environment()
        .into_iter()
        .find(|(k, _)| *k == "ALIBABA_CLOUD_ROLE_SESSION_NAME")
        .map(|(_, v)| v)
        .unwrap();

    struct Scenario {
        label: &'static str,
        env: serde_json::Value,
        /// Where the KMS request goes (host, port) and the protocol LocalKms logs it as.
        kms_host: String,
        kms_port: u16,
        protocol: &'static str,
        /// The STS host the client must use and the session name it must send (OIDC only).
        sts: Option<(String, String)>,
    }
    let scenarios = [
        Scenario {
            label: "AccessKey, instance gateway",
            env: ak(&instance_entry),
            kms_host: instance_host.clone(),
            kms_port: kms.addr().port(),
            protocol: "instance-gateway-v3",
            sts: None,
        },
        Scenario {
            label: "AccessKey, shared gateway",
            env: ak(&shared_entry),
            kms_host: shared_host.clone(),
            kms_port: kms.gateway_addr().port(),
            protocol: "gateway-v3",
            sts: None,
        },
        Scenario {
            label: "oidc_role_arn, shared gateway",
            env: oidc(&shared_entry),
            kms_host: shared_host.clone(),
            kms_port: kms.gateway_addr().port(),
            protocol: "gateway-v3",
            sts: Some((sts_host.clone(), SESSION.to_owned())),
        },
        Scenario {
            label: "oidc_role_arn, instance gateway",
            env: oidc(&instance_entry),
            kms_host: instance_host.clone(),
            kms_port: kms.addr().port(),
            protocol: "instance-gateway-v3",
            sts: Some((sts_host.clone(), SESSION.to_owned())),
        },
        Scenario {
            label: "default chain (RRSA variables), instance gateway",
            env: serde_json::Value::Object(default_chain),
            kms_host: instance_host.clone(),
            kms_port: kms.addr().port(),
            protocol: "instance-gateway-v3",
            sts: Some((sts_vpc_host.clone(), default_session)),
        },
    ];
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python/secretsmanager_v2_fetch.py");
    let sts_port = kms.sts_endpoint().port;
    for scenario in scenarios {
        let label = scenario.label;
        // Only the names this scenario may use resolve (the script refuses any other), so the
        // STS host the client derived is checked too.
        let mut hosts = serde_json::Map::new();
        hosts.insert(scenario.kms_host.clone(), scenario.kms_port.into());
        if let Some((sts, _)) = &scenario.sts {
            hosts.insert(sts.clone(), sts_port.into());
        }
        // The LocalKms root stands in for a public root where the client uses public roots
        // (shared gateway, STS); the AccessKey instance-gateway run trusts its caFilePath only.
        let public_root =
            (scenario.protocol == "gateway-v3" || scenario.sts.is_some()).then(|| kms.ca_file());
        let info = serde_json::json!({
            "hosts": hosts,
            "env": scenario.env,
            "secret_names": [NAME],
            "public_root": public_root,
        });
        let info_file = kms.dir().join("python_v2_info.json");
        std::fs::write(&info_file, info.to_string()).unwrap();
        // An empty working directory: no secretsmanager.properties is picked up.
        let cwd = tempfile::tempdir().unwrap();
        kms.clear_requests();
        let oidc_before = kms.oidc_sts_requests().len();
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
        let token = std::fs::read_to_string(&role.token_file).unwrap();
        assert!(
            !stderr.contains(token.trim()),
            "{label}: the OIDC token was logged"
        );
        let doc: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(
            doc[NAME]["AccessKeyId"],
            pair.access_key_id.as_str(),
            "{label}"
        );
        let requests = kms.requests();
        assert_eq!(requests.len(), 1, "{label}: {requests:?}");
        assert_eq!(requests[0].protocol, scenario.protocol, "{label}");
        assert_eq!(requests[0].outcome, "OK", "{label}");
        let sts_calls = kms.oidc_sts_requests().split_off(oidc_before);
        match &scenario.sts {
            None => {
                assert_eq!(requests[0].key_id, caller.access_key_id, "{label}");
                assert!(sts_calls.is_empty(), "{label}: {sts_calls:?}");
            }
            Some((_, session)) => {
                assert_eq!(sts_calls.len(), 1, "{label}: {sts_calls:?}");
                let call = &sts_calls[0];
                let query = |name: &str| {
                    call.query
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str())
                };
                assert_eq!(call.http_status, 200, "{label}: {call:?}");
                // Like the capture: everything in the query of an anonymous GET.
                assert_eq!(call.method, "GET", "{label}");
                // The token LocalKms wrote to the file (its first generation) was sent.
                assert_eq!(call.token_generation, Some(1), "{label}: {call:?}");
                assert_eq!(query("Action"), Some("AssumeRoleWithOIDC"), "{label}");
                assert_eq!(query("RoleArn"), Some(role.role_arn.as_str()), "{label}");
                assert_eq!(
                    query("OIDCProviderArn"),
                    Some(role.oidc_provider_arn.as_str()),
                    "{label}"
                );
                assert_eq!(&call.role_session_name, session, "{label}");
                // LocalKms accepted the KMS request as the issued STS session: its signature
                // with the session's secret and its x-acs-security-token were checked.
                let issued = call.issued_access_key_id.as_deref().unwrap();
                assert!(issued.starts_with("STS."), "{label}: {issued}");
                assert_eq!(requests[0].key_id, issued, "{label}");
            }
        }
    }
}
