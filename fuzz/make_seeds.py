#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/ from tests/fixtures/ plus hand-made edge cases.

Run from anywhere: `python3 fuzz/make_seeds.py`. It empties and rewrites fuzz/seeds/, so the
committed seeds are exactly what this script makes. Input framing (see src/testing/fuzzing.rs):
  client_key_json, client_key_pkcs12: [password length][password][payload]
  instance_response: [status selector][content-type selector][body]
  gateway_error: [status selector][body]
"""

import base64
import json
import shutil
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
FIX = ROOT / "tests" / "fixtures"
SEEDS = FUZZ / "seeds"

# Must match STATUSES and CONTENT_TYPES in src/testing/fuzzing.rs.
STATUSES = [200, 201, 204, 299, 301, 400, 401, 403, 404, 429, 500, 502, 503, 599, 100, 600]
CONTENT_TYPES = ["application/x-protobuf", None, "text/html; charset=utf-8", "application/json"]
ENDPOINT_TOKEN = "fuzz0fuzz1fuzz2fuzz3fuzz4fuzz5fuzz6"

seeds = {}


def add(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, {})[name] = data


def password(path):
    return path.read_text().strip().encode()


def framed(pw, payload):
    assert len(pw) < 256
    return bytes([len(pw)]) + pw + payload


def status_selector(status):
    return STATUSES.index(status)


def content_type_selector(content_type):
    if not content_type:
        return 1
    ct = content_type.lower()
    if "html" in ct or ct.startswith("text/"):
        return 2
    if "json" in ct:
        return 3
    return 0


# --- properties and config: the fixture files and hand-made grammar edge cases ---------------
property_files = {
    "incloud": FIX / "config" / "incloud" / "managed_credentials_providers.properties",
    "onprem": FIX / "config" / "onprem" / "managed_credentials_providers.properties",
    "not_utf8": FIX / "config" / "not_utf8.properties",
    "example": ROOT / "managed_credentials_providers.properties.example",
}
for name, path in property_files.items():
    add("properties", name, path.read_bytes())
    add("config", name, path.read_bytes())

grammar = {
    "empty": "",
    "bom_crlf": "\ufeffa=1\r\nb : 2\rc 3\n",
    "continuation": "key = first \\\n    second \\\\\n! comment \\\nnext=\\\n",
    "escapes": "k\\ e\\=y\\:=\\t\\n\\r\\f\\u0041\\uD83D\\uDE00 tail \n",
    "bad_unicode": "a=\\u12G4\n",
    "unpaired_surrogate": "a=\\uD800x\nb=\\uDC00\n",
    "high_then_bad_low": "a=\\uD83D\\u00zz\n",
    "trailing_backslash": "a=b\\",
    "duplicate_keys": "a=1\na=2\n#c\n!d\n  \t\f e=\n",
    "only_separators": "=\n:\n = \n\\\n",
}
for name, text in grammar.items():
    add("properties", name, text)

configs = {
    "ak": "credentials_type=ak\ncredentials_access_key_id=LTAIfuzz\ncredentials_access_secret=s\n"
    "cache_client_region_id=[{\"regionId\":\"cn-hangzhou\"}]\nsecret_names=a,b\n",
    "sts": "credentials_type=sts\ncredentials_access_key_id=LTAIfuzz\ncredentials_access_secret=s\n"
    "credentials_role_arn=acs:ram::1:role/r\ncredentials_role_session_name=s\n"
    "credentials_duration_seconds=3600\ncache_client_region_id=[{\"regionId\":\"cn-shanghai\",\"vpc\":true}]\n",
    "ecs": "credentials_type=ecs_ram_role\ncredentials_role_name=r\n"
    "cache_client_region_id=[{\"regionId\":\"cn-beijing\",\"endpoint\":\"https://kms.example.com:8443/\"}]\n",
    "dkms_bad_json": "cache_client_dkms_config_info=[{\"regionId\":\"cn-hangzhou\",\n",
    "dkms_wrong_types": "cache_client_dkms_config_info=[{\"regionId\":1,\"endpoint\":[],"
    "\"ignoreSslCerts\":\"maybe\",\"clientKeyContent\":5},null,\"x\"]\n",
    "dkms_object_not_list": "cache_client_dkms_config_info={\"regionId\":\"cn-hangzhou\"}\n",
    "region_deep": "credentials_type=ak\ncache_client_region_id=" + "[" * 64 + "]" * 64 + "\n",
    "numbers": "credentials_type=ak\ncredentials_access_key_id=a\ncredentials_access_secret=b\n"
    "cache_client_region_id=[{\"regionId\":\"cn-hangzhou\"}]\nrequest_timeout_ms=99999999999999999999\n"
    "refresh_interval_ms=-1\nmax_response_bytes=0\n",
    "endpoint_ports": "cache_client_dkms_config_info=[{\"regionId\":\"r\",\"endpoint\":\"h:99999\","
    "\"connectTo\":\"[::1]:0\",\"clientKeyFile\":\"k\",\"passwordFromFilePath\":\"p\"}]\n",
}
for name, text in configs.items():
    add("config", name, text)

# --- ClientKey JSON and PKCS#12 -----------------------------------------------------------------
ki_pw = password(next((FIX / "kms-instance").glob("clientKey_*_Password.txt")))
gw_pw = password(next((FIX / "gateway").glob("clientKey_*_Password.txt")))
id_pw = password(FIX / "identity" / "fixture_Password.txt")
real_pw = password(FIX / "real-alibaba-clientkey" / "clientKey_real_Password.txt")

for path in sorted((FIX / "kms-instance").glob("clientKey_*.json")):
    add("client_key_json", "kms_instance_" + path.stem.rsplit("_", 1)[1], framed(ki_pw, path.read_bytes()))
for path in sorted((FIX / "gateway").glob("clientKey_*.json")):
    add("client_key_json", "gateway_" + path.stem.rsplit("_", 1)[1], framed(gw_pw, path.read_bytes()))
for path in sorted((FIX / "identity").glob("clientKey_*.json")):
    add("client_key_json", "identity_" + path.stem.split("_", 1)[1], framed(id_pw, path.read_bytes()))
real = FIX / "real-alibaba-clientkey" / "clientKey_real.json"
add("client_key_json", "real_alibaba", framed(real_pw, real.read_bytes()))
legacy = json.loads(next((FIX / "kms-instance").glob("clientKey_*_legacy.json")).read_text())
add("client_key_json", "wrong_password", framed(b"wrong", json.dumps(legacy).encode()))
wrapped = dict(legacy)
data = wrapped["PrivateKeyData"].replace("\n", "")
wrapped["PrivateKeyData"] = "\n".join(data[i:i + 64] for i in range(0, len(data), 64))
add("client_key_json", "wrapped_base64", framed(ki_pw, json.dumps(wrapped).encode()))
for name, text in {
    "not_object": "[1,2]",
    "missing_key_id": '{"PrivateKeyData":"AAAA"}',
    "key_id_space": '{"KeyId":"KAAP. x","PrivateKeyData":"AAAA"}',
    "data_not_string": '{"KeyId":"KAAP.x","PrivateKeyData":5}',
    "data_not_base64": '{"KeyId":"KAAP.x","PrivateKeyData":"***"}',
    "data_empty": '{"KeyId":"KAAP.x","PrivateKeyData":" \\n "}',
    "not_json": "{\"KeyId\":",
}.items():
    add("client_key_json", name, framed(ki_pw, text.encode()))

p12s = [
    (FIX / "kms-instance" / "keys", ki_pw, "kms_instance_"),
    (FIX / "gateway" / "keys", gw_pw, "gateway_"),
    (FIX / "identity", id_pw, "identity_"),
]
for folder, pw, prefix in p12s:
    for path in sorted(folder.glob("*.p12")):
        add("client_key_pkcs12", prefix + path.stem, framed(pw, path.read_bytes()))
alibaba_p12 = (FIX / "kms-instance" / "keys" / "clientkey_alibabalike_legacy_mac1.p12").read_bytes()
add("client_key_pkcs12", "truncated", framed(ki_pw, alibaba_p12[: len(alibaba_p12) // 2]))
add("client_key_pkcs12", "wrong_password", framed(b"wrong", alibaba_p12))
add("client_key_pkcs12", "empty", framed(b"", b""))
add("client_key_pkcs12", "der_sequence", framed(b"", bytes.fromhex("3003020103")))

# --- CA files ---------------------------------------------------------------------------------
for path in sorted((FIX / "identity").glob("ca_*")):
    add("ca_bundle", path.name.replace(".", "_"), path.read_bytes())
add("ca_bundle", "kms_instance_ca", next((FIX / "kms-instance").glob("PrivateKmsCA_*.pem")).read_bytes())
add("ca_bundle", "real_ca", (FIX / "real-alibaba-clientkey" / "PrivateKmsCA_real.pem").read_bytes())
add("ca_bundle", "server_chain", (FIX / "kms-instance" / "pki" / "server_chain.pem").read_bytes())
add("ca_bundle", "truncated_block", "-----BEGIN CERTIFICATE-----\nMIIB\n")
add("ca_bundle", "bad_base64_block", "-----BEGIN CERTIFICATE-----\n****\n-----END CERTIFICATE-----\n")

# --- KMS instance API answers -------------------------------------------------------------------
responses = FIX / "kms-instance" / "responses"
index = json.loads((responses / "index.json").read_text())
for file_name, meta in sorted(index.items()):
    body = base64.b64decode((responses / file_name).read_text())
    header = bytes([status_selector(meta["http_status"]), content_type_selector(meta["content_type"])])
    add("instance_response", file_name.split("_response_body")[0], header + body)
ok = base64.b64decode((responses / "01_ok_legacy_ca_fixeddate_response_body.b64").read_text())
add("instance_response", "ok_as_json_content_type", bytes([0, 3]) + ok)
add("instance_response", "ok_truncated", bytes([0, 0]) + ok[: len(ok) // 2])
add("instance_response", "redirect_empty", bytes([status_selector(301), 1]))
add("instance_response", "error_empty", bytes([status_selector(500), 1]))
add("instance_response", "error_no_code", bytes([status_selector(400), 0]) + bytes.fromhex("1a0468656c6c6f"))

# --- Shared gateway answers -------------------------------------------------------------------
gw = FIX / "gateway" / "responses"
def body_of(path):
    return json.dumps(json.loads(path.read_text())["body"], separators=(",", ":"))

ok_body = json.loads((gw / "ok_ram_credentials.json").read_text())["body"]
add("gateway_secret_value", "ok_ram_credentials", body_of(gw / "ok_ram_credentials.json"))
variants = {
    "stages_bare_list": dict(ok_body, VersionStages=["ACSCurrent", "ACSPrevious"]),
    "stages_single": dict(ok_body, VersionStages={"VersionStage": "ACSCurrent"}),
    "extended_object": dict(ok_body, ExtendedConfig={"SecretSubType": "RamUserAccessKey"}),
    "binary": dict(ok_body, SecretDataType="binary", SecretData="eyJBY2Nlc3NLZXlJZCI6ImEifQ=="),
    "no_secret_data": {k: v for k, v in ok_body.items() if k != "SecretData"},
    "bad_dates": dict(ok_body, NextRotationDate="9999-99-99T99:99:99Z", CreateTime="1970",
                      RotationInterval="99999999999999999999s"),
    "legacy_fields": dict(ok_body, SecretData=json.dumps({
        "AccessKeyId": "a", "AccessKeySecret": "b", "scheduleRotateTimestamp": 99999999999999,
        "refreshInterval": "3600s", "ExpireTimestamp": "2030-01-01T00:00:00Z"})),
}
for name, body in variants.items():
    add("gateway_secret_value", name, json.dumps(body, separators=(",", ":")))
add("gateway_secret_value", "not_object", "[]")
add("gateway_secret_value", "truncated", body_of(gw / "ok_ram_credentials.json")[:100])

for path in sorted(gw.glob("err_*.json")):
    status = json.loads(path.read_text())["status"]
    add("gateway_error", path.stem, bytes([status_selector(status)]) + body_of(path).encode())
add("gateway_error", "html_502", bytes([status_selector(502)]) + b"<html><body>502 Bad Gateway</body></html>")
add("gateway_error", "empty_code", bytes([status_selector(400)]) + b'{"Code":"","Message":"m"}')
add("gateway_error", "code_not_string", bytes([status_selector(403)]) + b'{"Code":5}')

# --- STS and ECS metadata answers --------------------------------------------------------------
sts_ok = json.loads((gw / "sts_assume_role_ok.json").read_text())["body"]
add("sts_answer", "sts_assume_role_ok", json.dumps(sts_ok, separators=(",", ":")))
future = json.loads(json.dumps(sts_ok))
future["Credentials"]["Expiration"] = "2099-01-01T00:00:00Z"
add("sts_answer", "valid_until_2099", json.dumps(future, separators=(",", ":")))
far = json.loads(json.dumps(sts_ok))
far["Credentials"]["Expiration"] = "9999-12-31T23:59:59Z"
add("sts_answer", "valid_until_9999", json.dumps(far, separators=(",", ":")))
add("sts_answer", "offset_expiration", json.dumps({"Credentials": dict(sts_ok["Credentials"], Expiration="2099-01-01T08:00:00+08:00")}))
add("sts_answer", "no_credentials", '{"RequestId":"r"}')
add("sts_answer", "empty_token", json.dumps({"Credentials": dict(sts_ok["Credentials"], SecurityToken="")}))

ecs_ok = {
    "AccessKeyId": "STS.FakeEcsKeyId", "AccessKeySecret": "FakeEcsSecret",
    "Expiration": "2099-01-01T00:00:00Z", "SecurityToken": "CAISfakeEcsToken",
    "LastUpdated": "2024-02-01T08:00:00Z", "Code": "Success",
}
add("ecs_answer", "success", json.dumps(ecs_ok))
add("ecs_answer", "code_failed", json.dumps(dict(ecs_ok, Code="Failed")))
add("ecs_answer", "no_code_expired", json.dumps({k: v for k, v in dict(ecs_ok, Expiration="2001-01-01T00:00:00Z").items() if k != "Code"}))
add("ecs_answer", "bad_expiration", json.dumps(dict(ecs_ok, Expiration="tomorrow")))
add("ecs_answer", "missing_secret", json.dumps({k: v for k, v in ecs_ok.items() if k != "AccessKeySecret"}))

# --- SecretData -------------------------------------------------------------------------------
add("secret_data", "ram_credentials", ok_body["SecretData"])
add("secret_data", "legacy_fields", json.dumps({
    "AccessKeyId": " LTAIpadded ", "AccessKeySecret": "s", "GenerateTimestamp": "2024-02-01 08:00:00",
    "ExpireTimestamp": "2030-01-01T00:00:00Z", "scheduleRotateTimestamp": "1700000000",
    "refreshInterval": 3600}))
add("secret_data", "huge_epoch", '{"AccessKeyId":"a","AccessKeySecret":"b","scheduleRotateTimestamp":1e300}')
add("secret_data", "missing_secret", '{"AccessKeyId":"a"}')
add("secret_data", "base64_text", "eyJBY2Nlc3NLZXlJZCI6ImEiLCJBY2Nlc3NLZXlTZWNyZXQiOiJiIn0=")
add("secret_data", "plain_text", "hello")

# --- Credentials endpoint requests ------------------------------------------------------------
t = ENDPOINT_TOKEN
requests = {
    "credentials": f"GET /{t}/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "credentials_named": f"GET /{t}/credentials/acs/ram/user/fuzz HTTP/1.1\r\nHost: x\r\n\r\n",
    "credentials_failing": f"GET /{t}/credentials/acs/ram/user/broken HTTP/1.1\r\nHost: x\r\n\r\n",
    "credentials_unknown": f"GET /{t}/credentials/other HTTP/1.1\r\nHost: x\r\n\r\n",
    "health_head": f"HEAD /{t}/health HTTP/1.1\r\nHost: x\r\n\r\n",
    "wrong_token": "GET /fuzz0fuzz1fuzz2fuzz3fuzz4fuzz5fuzz7/health HTTP/1.1\r\nHost: x\r\n\r\n",
    "post_with_body": f"POST /{t}/credentials HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd",
    "pipelined": f"GET /{t}/health HTTP/1.1\r\nHost: x\r\n\r\nGET /{t}/credentials/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "chunked_incomplete": f"PUT /{t}/health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    "http10_absolute": f"GET http://127.0.0.1/{t}/credentials HTTP/1.0\r\n\r\n",
    "garbage": "\x00\xff GET / HTTP/9.9\r\n\r\n",
    "percent_path": f"GET /{t}/credentials/acs%2Fram%2Fuser%2Ffuzz HTTP/1.1\r\n\r\n",
}
for name, text in requests.items():
    add("endpoint_request", name, text.encode("latin-1"))

# --- write ----------------------------------------------------------------------------------
if SEEDS.exists():
    shutil.rmtree(SEEDS)
for target, files in sorted(seeds.items()):
    folder = SEEDS / target
    folder.mkdir(parents=True)
    for name, data in sorted(files.items()):
        (folder / name).write_bytes(data)
    print(f"{target}: {len(files)} seeds, {sum(len(d) for d in files.values())} bytes")
