//! The IDX reader, in memory and through a (possibly gzipped) file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neurona::classifier::data::idx::{parse_idx, read_idx};

fuzz_target!(|data: &[u8]| {
    let _ = parse_idx(data);
    let path = std::env::temp_dir().join(format!("neurona-fuzz-idx-{}", std::process::id()));
    if std::fs::write(&path, data).is_ok() {
        let _ = read_idx(&path);
    }
});
