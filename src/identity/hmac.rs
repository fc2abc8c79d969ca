//! HMAC-SHA1 for AccessKey / STS callers of the shared gateway (key = secret + "&").

use base64::Engine;

/// `base64(HMAC-SHA1(key, data))`.
pub fn hmac_sha1_base64(key: &[u8], data: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, data).as_ref())
}
