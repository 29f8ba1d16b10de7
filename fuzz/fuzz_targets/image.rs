//! The PNG and PGM (P2/P5) readers of `neurona predict`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neurona::classifier::inference::decode_image;

fuzz_target!(|data: &[u8]| {
    let _ = decode_image(data);
});
