//! Parses arbitrary text as script assembly, and prints arbitrary bytes as assembly that
//! must parse back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_script::asm;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = asm::parse(text);
    }
    assert_eq!(asm::parse(&asm::print(data)).ok().as_deref(), Some(data));
});
