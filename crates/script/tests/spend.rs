//! A P2PKH spend of a value transaction with P-256 signatures over vkm's signature hash,
//! and the properties of the interpreter on arbitrary input.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use p256::ecdsa::SigningKey;
use p256::elliptic_curve::Generate;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};
use vkm_block::{Amount, OutPoint, ScriptBytes, TxIn, TxOut, Txid, ValueTx};
use vkm_script::asm::{self, push_data};
use vkm_script::opcode::op;
use vkm_script::{Flags, NoSignatures, ScriptError, TransactionChecker, eval, sign_input, verify};

fn p2pkh(key: &SigningKey) -> Vec<u8> {
    let public = key.verifying_key().to_sec1_point(true);
    let hash = Ripemd160::digest(Sha256::digest(public.as_bytes()));
    let mut script = vec![op::OP_DUP, op::OP_HASH160];
    push_data(&mut script, &hash);
    script.extend_from_slice(&[op::OP_EQUALVERIFY, op::OP_CHECKSIG]);
    script
}

fn spending_tx() -> ValueTx {
    ValueTx {
        inputs: vec![
            TxIn {
                previous_output: OutPoint {
                    txid: Txid([1; 32]),
                    vout: 0,
                },
                unlocking_script: ScriptBytes::default(),
            },
            TxIn {
                previous_output: OutPoint {
                    txid: Txid([2; 32]),
                    vout: 3,
                },
                unlocking_script: ScriptBytes::default(),
            },
        ],
        outputs: vec![TxOut {
            amount: Amount(5 * Amount::COIN),
            locking_script: ScriptBytes::new(vec![op::OP_1]).unwrap(),
        }],
        lock_time: 0,
    }
}

#[test]
fn p2pkh_spend_verifies_and_any_change_breaks_it() {
    let mut rng = StdRng::seed_from_u64(2);
    let key = SigningKey::generate_from_rng(&mut rng);
    let locking = p2pkh(&key);
    let tx = spending_tx();
    let signature = sign_input(&key, &tx, 0, &locking);
    assert_eq!(signature.len(), 65);
    let mut unlocking = Vec::new();
    push_data(&mut unlocking, &signature);
    push_data(
        &mut unlocking,
        key.verifying_key().to_sec1_point(true).as_bytes(),
    );
    let checker = TransactionChecker { tx: &tx, index: 0 };
    assert!(verify(&unlocking, &locking, Flags { p2sh: true }, &checker).is_ok());

    // Another input index, another transaction, another key: refused.
    let other_input = TransactionChecker { tx: &tx, index: 1 };
    assert_eq!(
        verify(&unlocking, &locking, Flags::default(), &other_input),
        Err(ScriptError::EvalFalse)
    );
    let mut changed = tx.clone();
    changed.outputs[0].amount = Amount(6 * Amount::COIN);
    let changed_checker = TransactionChecker {
        tx: &changed,
        index: 0,
    };
    assert_eq!(
        verify(&unlocking, &locking, Flags::default(), &changed_checker),
        Err(ScriptError::EvalFalse)
    );
    let stranger = SigningKey::generate_from_rng(&mut rng);
    assert_eq!(
        verify(&unlocking, &p2pkh(&stranger), Flags::default(), &checker),
        Err(ScriptError::EqualVerify)
    );
    // Without a transaction CHECKSIG fails cleanly.
    assert_eq!(
        verify(&unlocking, &locking, Flags::default(), &NoSignatures),
        Err(ScriptError::EvalFalse)
    );
}

proptest! {
    #[test]
    fn arbitrary_scripts_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut stack = Vec::new();
        let _ = eval(&bytes, &mut stack, &NoSignatures);
        let _ = verify(&bytes, &bytes, Flags { p2sh: true }, &NoSignatures);
    }

    #[test]
    fn assembly_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        // Any bytes print to assembly that parses back to the same bytes.
        prop_assert_eq!(asm::parse(&asm::print(&bytes)).unwrap(), bytes);
    }

    #[test]
    fn parser_never_panics(text in "[ -~]{0,80}") {
        let _ = asm::parse(&text);
    }
}
