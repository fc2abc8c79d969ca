#!/usr/bin/env python3
"""Fetch secrets from LocalKms with the official secrets-manager client v2 (AccessKey or OIDC, V3).

    python3 -m venv /tmp/v2-venv && /tmp/v2-venv/bin/pip install alibabacloud-secretsmanager-client-v2==2.0.0
    ALIYUN_MC_TEST_PYTHON_V2=/tmp/v2-venv/bin/python \
        cargo test --features test-util --test instance_gateway official_python_v2_client

Run by tests/instance_gateway.rs with one argument, a JSON file:
    {"hosts": {"<host>": <loopback port>, ...}, "env": {"<variable>": "<value>", ...},
     "public_root": <PEM file or null>, "secret_names": [...]}

The client is configured only the documented way: environment variables with the names of
secretsmanager.properties keys (credentials_type=ak with credentials_access_key_id and
credentials_access_secret; credentials_type=oidc_role_arn with credentials_role_arn,
credentials_oidc_provider_arn, credentials_oidc_token_file_path, credentials_role_session_name and
credentials_sts_region_id; cache_client_region_id) or, for the credentials library's default
chain, no credentials_type and the RRSA variables ALIBABA_CLOUD_ROLE_ARN,
ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE (+ ALIBABA_CLOUD_STS_REGION).
The test passes them in "env"; inherited credentials_* / ALIBABA_CLOUD_* variables are removed
first so only those apply. Host names (the KMS gateways and the STS host the client derives,
sts[-vpc].<region>.aliyuncs.com) are mapped to 127.0.0.1:<port> by patching
socket.getaddrinfo, so the client still sends the real host name (signed in V3), uses it for SNI
and checks the certificate against it. For the shared gateway and STS the LocalKms root is added
to the client's public roots (certifi), like a root in the system store. Nothing else is patched.
Prints {"<name>": {"AccessKeyId": ..., "VersionId": ...}} (no secret) and exits 0 on success.
"""
import json
import os
import socket
import sys


def main(info_path):
    with open(info_path) as f:
        info = json.load(f)
    hosts = info["hosts"]

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in hosts:
            return real_getaddrinfo("127.0.0.1", hosts[host], *args, **kwargs)
        if host not in ("127.0.0.1", "localhost"):
            raise socket.gaierror(f"test: refusing to resolve {host}")
        return real_getaddrinfo(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo

    # The shared gateway and STS are verified against the public roots (certifi). LocalKms
    # stands in for a public CA the way a fake root in the system store would: certifi.where()
    # returns a copy of the certifi bundle with that root appended. Only the trust store changes.
    if info.get("public_root"):
        import certifi
        import tempfile

        with open(certifi.where()) as f:
            bundle = f.read()
        with open(info["public_root"]) as f:
            bundle += "\n" + f.read()
        fd, path = tempfile.mkstemp(suffix=".pem")
        with os.fdopen(fd, "w") as f:
            f.write(bundle)
        certifi.where = lambda: path

    # Only the variables the test chose configure the client (and the credentials library,
    # which reads ALIBABA_CLOUD_* when it is imported, below).
    for name in list(os.environ):
        if name.startswith(("credentials_", "cache_client_", "ALIBABA_CLOUD_")):
            del os.environ[name]
    os.environ.update(info["env"])
    os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"

    from alibabacloud_secretsmanager_client_v2.secret_manager_cache_client_builder import (
        SecretManagerCacheClientBuilder,
    )

    client = SecretManagerCacheClientBuilder.new_client()
    out = {}
    for name in info["secret_names"]:
        secret_info = client.get_secret_info(name)
        value = json.loads(secret_info.secret_value)
        out[name] = {
            "AccessKeyId": value["AccessKeyId"],
            "VersionId": secret_info.version_id,
            "SecretType": secret_info.secret_type,
        }
    print(json.dumps(out))
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
