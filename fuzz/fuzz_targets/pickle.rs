#![no_main]
//! Body: `rwkv_convert_fuzz::harness::pickle` (fuzz/src/harness.rs).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rwkv_convert_fuzz::harness::pickle(data);
});
