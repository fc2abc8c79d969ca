#!/usr/bin/env python3
"""Fetch a secret from LocalKms with the official Alibaba Cloud KMS instance SDK.

    python3 -m venv /tmp/pyenv && /tmp/pyenv/bin/pip install alibabacloud-dkms-gcs==1.0.2
    cargo run --features test-util --example local_kms -- --dir /tmp/lk &
    /tmp/pyenv/bin/python tests/python/dkms_gcs_fetch.py /tmp/lk/local_kms.json

The endpoint host ({instanceId}.cryptoservice.kms.aliyuncs.com) is mapped to 127.0.0.1 by
patching socket.getaddrinfo, so TLS still checks the certificate against the real endpoint
name and the CA file (root + Second CA), like against a real instance.
Prints the parsed response (AccessKeySecret masked) and exits 0 on success.
"""
import json
import socket
import sys

from openapi.models import Config
from openapi_util.models import RuntimeOptions
from sdk.client import Client
from sdk.models import GetSecretValueRequest


def main(info_path):
    with open(info_path) as f:
        info = json.load(f)
    host = info["host"]

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(name, *args, **kwargs):
        if name == host:
            name = "127.0.0.1"
        return real_getaddrinfo(name, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo

    with open(info["password_file"]) as f:
        password = f.read().strip()  # the file ends with a newline, like the console download
    config = Config(
        protocol="https",
        client_key_file=info["client_key_file"],
        password=password,
        endpoint=info["endpoint"],
        ca_file_path=info["ca_file"],
    )
    client = Client(config)
    ok = True
    for name in info["secret_names"]:
        request = GetSecretValueRequest(
            secret_name=name, version_stage="ACSCurrent", fetch_extended_config=True
        )
        response = client.get_secret_value_with_options(request, RuntimeOptions())
        result = response.to_map()
        result.pop("responseHeaders", None)
        data = json.loads(result.get("SecretData") or "{}")
        if "AccessKeySecret" in data:
            data["AccessKeySecret"] = "<masked %d chars>" % len(data["AccessKeySecret"])
        result["SecretData"] = data
        print(json.dumps(result, indent=2, sort_keys=True))
        ok = ok and bool(data.get("AccessKeyId")) and result.get("SecretName") == name
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
