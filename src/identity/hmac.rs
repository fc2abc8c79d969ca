//! HMAC for AccessKey / STS callers of the shared and instance gateways: HMAC-SHA1 for RPC
//! signature v1, HMAC-SHA256 for the V3 signature `ACS3-HMAC-SHA256`.

use base64::Engine;
use zeroize::Zeroizing;

/// `base64(HMAC-SHA1(key, data))`.
pub(crate) fn hmac_sha1_base64(key: &[u8], data: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, data).as_ref())
}

/// The RPC v1 `Signature` for `string_to_sign`: HMAC-SHA1 keyed with `access_key_secret + "&"`
/// (the `&` separates the absent token secret), base64. The joined key is zeroized.
pub(crate) fn rpc_hmac_sha1_signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let mut key = Zeroizing::new(String::with_capacity(access_key_secret.len() + 1));
    key.push_str(access_key_secret);
    key.push('&');
    hmac_sha1_base64(key.as_bytes(), string_to_sign.as_bytes())
}

/// The V3 `ACS3-HMAC-SHA256` signature of `string_to_sign`: HMAC-SHA256 keyed with the bare
/// `access_key_secret` (no `&`, unlike RPC v1), lower-case hex.
pub(crate) fn acs3_hmac_sha256_signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, access_key_secret.as_bytes());
    hex::encode(ring::hmac::sign(&key, string_to_sign.as_bytes()).as_ref())
}
