//! Executes arbitrary bytes as unlocking and locking scripts: the interpreter's budgets
//! (size, operations with OP_EXPONENT's cost, stack) bound the work; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_script::{Flags, NoSignatures, eval, verify};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize).min(data.len());
    let (unlocking, locking) = data.split_at(split);
    let mut stack = Vec::new();
    let _ = eval(data, &mut stack, &NoSignatures);
    let _ = verify(unlocking, locking, Flags { p2sh: true }, &NoSignatures);
});
