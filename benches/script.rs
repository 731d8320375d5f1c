//! Script benchmarks: a P2PKH spend (P-256 signature over vkm's signature hash) beside one
//! plain ECDSA verification in the same group, and OP_EXPONENT at 2048 and 3072 bits
//! (RFC 7919 groups, full-size exponents); the most expensive block of value transactions
//! the budgets accept.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::Generate;
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use vkm::block::{Amount, OutPoint, ScriptBytes, TxIn, TxOut, Txid, ValueTx};
use vkm::script::asm::push_data;
use vkm::script::opcode::op;
use vkm::script::{Flags, NoSignatures, TransactionChecker, eval, sign_input, verify};

const FFDHE2048: &str = "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b423861285c97ffffffffffffffff";
const FFDHE3072: &str = "ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef97d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fbb96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f619172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa886b4238611fcfdcde355b3b6519035bbc34f4def99c023861b46fc9d6e6c9077ad91d2691f7f7ee598cb0fac186d91caefe130985139270b4130c93bc437944f4fd4452e2d74dd364f2e21e71f54bff5cae82ab9c9df69ee86d2bc522363a0dabc521979b0deada1dbf9a42d5c4484e0abcd06bfa53ddef3c1b20ee3fd59d7c25e41d2b66c62e37ffffffffffffffff";

fn p2pkh(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let key = SigningKey::generate_from_rng(&mut rng);
    let public = key.verifying_key().to_sec1_point(true);
    let hash = ripemd::Ripemd160::digest(Sha256::digest(public.as_bytes()));
    let mut locking = vec![op::OP_DUP, op::OP_HASH160];
    push_data(&mut locking, &hash);
    locking.extend_from_slice(&[op::OP_EQUALVERIFY, op::OP_CHECKSIG]);
    let tx = ValueTx {
        inputs: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid([1; 32]),
                vout: 0,
            },
            unlocking_script: ScriptBytes::default(),
        }],
        outputs: vec![TxOut {
            amount: Amount(Amount::COIN),
            locking_script: ScriptBytes::new(locking.clone()).expect("small"),
        }],
        lock_time: 0,
    };
    let mut unlocking = Vec::new();
    push_data(&mut unlocking, &sign_input(&key, &tx, 0, &locking));
    push_data(&mut unlocking, public.as_bytes());
    let checker = TransactionChecker { tx: &tx, index: 0 };
    assert!(verify(&unlocking, &locking, Flags::default(), &checker).is_ok());
    let digest = [7u8; 32];
    let signature: Signature = key.sign_prehash(&digest).expect("32-byte digest");

    let mut group = c.benchmark_group("script");
    group.bench_function("p2pkh_spend", |b| {
        b.iter(|| black_box(verify(&unlocking, &locking, Flags::default(), &checker)))
    });
    group.bench_function("ecdsa_verify_baseline", |b| {
        b.iter(|| black_box(key.verifying_key().verify_prehash(&digest, &signature)))
    });
    group.finish();
}

fn exponent(c: &mut Criterion) {
    let mut group = c.benchmark_group("op_exponent");
    group.sample_size(20);
    for (name, p_hex) in [("ffdhe2048", FFDHE2048), ("ffdhe3072", FFDHE3072)] {
        let p = hex::decode(p_hex).expect("hex");
        let mut e = p.clone();
        e[0] = 0x7f;
        let mut script = Vec::new();
        push_data(&mut script, &[2]);
        push_data(&mut script, &e);
        push_data(&mut script, &p);
        script.push(op::OP_EXPONENT);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut stack = Vec::new();
                black_box(eval(&script, &mut stack, &NoSignatures)).expect("valid");
                stack
            })
        });
    }
    group.finish();
}

/// The most expensive block the value rules accept: value transactions whose scripts run
/// 4096-bit exponentiations (the largest operands, and the most time per budget unit) up
/// to the block's budget of `MAX_BLOCK_EXPONENT_UNITS`; beside it, the same work with a
/// 512-byte base and a one-byte modulus, which the cost once undercharged.
fn worst_case_block(c: &mut Criterion) {
    use vkm::block::Transaction;
    use vkm::coins::{MAX_BLOCK_EXPONENT_UNITS, ValueRules};
    use vkm::ledger::{Registry, TransactionRules, TxContext};
    let lock = |base: &[u8], modulus: &[u8], count: usize| {
        let mut script = Vec::new();
        push_data(&mut script, base);
        push_data(&mut script, &[0xab; 512]);
        push_data(&mut script, modulus);
        for _ in 0..count {
            script.extend([op::OP_3DUP, op::OP_EXPONENT, op::OP_DROP]);
        }
        script.push(op::OP_1);
        TxOut {
            amount: Amount(1),
            locking_script: ScriptBytes::new(script).expect("small"),
        }
    };
    let spend = |salt: u8| {
        Transaction::Value(ValueTx {
            inputs: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid([salt; 32]),
                    vout: 0,
                },
                unlocking_script: ScriptBytes::default(),
            }],
            outputs: vec![],
            lock_time: 0,
        })
    };
    let mut modulus = vec![0xff; 512];
    modulus[511] = 0xfd;
    // 4096-bit: 33 units each, 35 operations with its 3DUP and DROP: 5 in a script (175 of
    // 201 operations, 165 of a transaction's 201 units), 3 transactions: 495 units.
    let heavy = lock(&[0x07; 512], &modulus, 5);
    let per_tx = 5 * 33;
    let txs = MAX_BLOCK_EXPONENT_UNITS as usize / per_tx;
    let block: Vec<Transaction> = (0..txs).map(|i| spend(i as u8)).collect();
    let spent = vec![heavy];
    let contexts: Vec<TxContext<'_>> = block
        .iter()
        .map(|tx| TxContext {
            transaction: tx,
            spent_outputs: &spent,
        })
        .collect();
    let rules = ValueRules::new(1);
    assert!(
        rules
            .check_batch(&contexts, &Registry::default())
            .iter()
            .all(Result::is_ok)
    );
    // A one-byte modulus costs 2 units: 50 a script (200 operations).
    let cheap = vec![lock(&[0xff; 512], &[0x07], 50)];
    let cheap_contexts: Vec<TxContext<'_>> = block
        .iter()
        .map(|tx| TxContext {
            transaction: tx,
            spent_outputs: &cheap,
        })
        .collect();
    assert!(
        rules
            .check_batch(&cheap_contexts, &Registry::default())
            .iter()
            .all(Result::is_ok)
    );
    let mut group = c.benchmark_group("value_block");
    group.sample_size(10);
    group.bench_function("worst_case_exponent_budget_one_thread", |b| {
        b.iter(|| black_box(rules.check_batch(&contexts, &Registry::default())))
    });
    group.bench_function("huge_base_tiny_modulus_same_count_one_thread", |b| {
        b.iter(|| black_box(rules.check_batch(&cheap_contexts, &Registry::default())))
    });
    group.finish();
}

criterion_group!(benches, p2pkh, exponent, worst_case_block);
criterion_main!(benches);
