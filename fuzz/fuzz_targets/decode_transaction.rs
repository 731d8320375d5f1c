//! Decodes arbitrary bytes as a transaction; on success the re-encoding must equal the
//! input, and the id and signing preimages must be computable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vkm_block::{MemberId, Transaction, deserialize, serialize};

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = deserialize::<Transaction>(data) {
        assert_eq!(serialize(&tx), data);
        let _ = tx.txid();
        match &tx {
            Transaction::KeyTransfer(t) => drop(t.signing_preimage()),
            Transaction::Registry(t) => drop(t.signing_preimage(MemberId(0))),
            Transaction::Value(_) => {}
        }
    }
});
