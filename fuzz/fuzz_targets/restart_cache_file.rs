#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    aliyun_managed_credentials::testing::fuzzing::restart_cache_file(data);
});
