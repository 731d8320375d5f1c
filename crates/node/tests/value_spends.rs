//! A security manager collects value transactions by the ledger's own coin rules: a
//! spend of one coin passes; a spend naming the same coin twice (both inputs validly
//! signed) is refused, as the ledger would refuse a block holding it.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{Amount, MemberId, OutPoint, ScriptBytes, Timestamp, TxIn, TxOut, ValueTx};
use vkm_coins::{Wallet, genesis_allocation, value_txid};
use vkm_ledger::BlockError;
use vkm_ledger::Ledger;
use vkm_node::sm::{Action, Event, Message, NodeConfig, Refusal, SecurityManager, ValueRefusal};
use vkm_period::{CollectionPeriod, FixedPolicy};
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::rules::KeyTransferRules;
use vkm_transfer::scenario::Scenario;

#[test]
fn double_counted_inputs_are_refused() {
    let mut rng = StdRng::seed_from_u64(3);
    let world = Scenario::new(1, 1, EncryptionScheme::Ieee1609P256, &mut rng);
    let mut wallet = Wallet::generate(&mut rng);
    let mut genesis = world.genesis_block(8, Timestamp(1_700_000_000_000));
    let allocation = genesis_allocation(&[(wallet.address(), Amount(100))]);
    genesis.transactions.push(allocation.clone());
    genesis.header.merkle_root = genesis.compute_merkle_root();
    wallet.observe(&allocation);
    let rules = KeyTransferRules::new(1);
    let ledger = Ledger::in_memory(&genesis, vkm_node::chain_rules(&rules, 1)).unwrap();
    let period = CollectionPeriod::new(1.0).unwrap();
    let id = MemberId(1);
    let mut sm = SecurityManager::new(
        id,
        world.keys(id).unwrap().clone(),
        ledger,
        rules,
        Box::new(FixedPolicy(period)),
        period,
        NodeConfig::default(),
    )
    .unwrap();
    let now = Timestamp(1_700_000_001_000);
    let pay = |amount| TxOut {
        amount: Amount(amount),
        locking_script: wallet.locking_script(),
    };

    // The same coin named twice, each input signed: 200 "held", 150 paid.
    let coin: OutPoint = *wallet.coins().next().unwrap().0;
    let input = TxIn {
        previous_output: coin,
        unlocking_script: ScriptBytes::default(),
    };
    let mut double = ValueTx {
        inputs: vec![input.clone(), input],
        outputs: vec![pay(150)],
        lock_time: 0,
    };
    for index in 0..2 {
        double.inputs[index].unlocking_script = wallet.p2pkh_unlocking(&double, index);
    }
    let actions = sm
        .handle(
            Event::Received {
                from: sm.id(),
                message: Message::Value(double),
            },
            now,
        )
        .unwrap();
    assert!(
        matches!(
            &actions[..],
            [Action::Refused(Refusal::Value {
                error: ValueRefusal::Spend(BlockError::MissingOrSpentInput { outpoint, .. }),
                ..
            })] if *outpoint == coin
        ),
        "{actions:?} (coin {coin:?})"
    );
    assert_eq!(sm.mempool_len(), 0);

    // One honest spend of the coin is collected and broadcast.
    let spend = wallet.build_spend(vec![pay(60)], &[]).unwrap();
    let txid = value_txid(&spend);
    let actions = sm
        .handle(
            Event::Received {
                from: sm.id(),
                message: Message::Value(spend),
            },
            now,
        )
        .unwrap();
    assert!(
        matches!(&actions[..], [Action::Broadcast(Message::Value(v))] if value_txid(v) == txid)
    );
    assert_eq!(sm.mempool_len(), 1);
}

/// A mined block on `parent` by security manager 1, signed.
fn block_on(
    world: &Scenario,
    parent: &vkm_block::Block,
    txs: Vec<vkm_block::Transaction>,
    offset_ms: u64,
    rng: &mut StdRng,
) -> vkm_block::Block {
    let miner = MemberId(1);
    let mut block = vkm_block::Block {
        header: vkm_block::BlockHeader {
            version: vkm_block::BlockHeader::VERSION,
            prev_block: parent.block_hash(),
            timestamp: Timestamp(parent.header.timestamp.0 + offset_ms),
            difficulty_bits: parent.header.difficulty_bits,
            ..vkm_block::BlockHeader::default()
        },
        miner,
        miner_signature: Default::default(),
        transactions: txs,
    };
    vkm_pow::Miner::default().mine(&mut block, rng, &std::sync::atomic::AtomicBool::new(false));
    vkm_transfer::rules::sign_block(world.keys(miner).unwrap(), miner, &mut block);
    block
}

#[test]
fn a_wallets_coins_follow_the_best_chain_through_the_index_by_script() {
    let mut rng = StdRng::seed_from_u64(4);
    let world = Scenario::new(1, 1, EncryptionScheme::Ieee1609P256, &mut rng);
    let mut alice = Wallet::generate(&mut rng);
    let bob = Wallet::generate(&mut rng);
    let mut genesis = world.genesis_block(8, Timestamp(1_700_000_000_000));
    let allocation = genesis_allocation(&[(alice.address(), Amount(100))]);
    genesis.transactions.push(allocation.clone());
    genesis.header.merkle_root = genesis.compute_merkle_root();
    alice.observe(&allocation);
    let dir = std::env::temp_dir().join(format!("vkm-utxo-index-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("chain.redb");
    let rules = KeyTransferRules::new(1);
    let mut ledger = Ledger::open(&path, &genesis, vkm_node::chain_rules(&rules, 1)).unwrap();
    let now = Timestamp(1_700_000_100_000);
    let amounts = |ledger: &Ledger, wallet: &Wallet| {
        let mut coins: Vec<u64> = ledger
            .unspent_outputs(wallet.locking_script().as_bytes())
            .unwrap()
            .into_iter()
            .map(|(_, out)| out.amount.0)
            .collect();
        coins.sort_unstable();
        coins
    };
    assert_eq!(amounts(&ledger, &alice), vec![100]);
    assert!(amounts(&ledger, &bob).is_empty());

    // Alice pays Bob 60 and keeps 40 in change.
    let spend = alice
        .build_spend(
            vec![TxOut {
                amount: Amount(60),
                locking_script: bob.locking_script(),
            }],
            &[],
        )
        .unwrap();
    let paid = block_on(
        &world,
        &genesis,
        vec![vkm_block::Transaction::Value(spend)],
        1000,
        &mut rng,
    );
    ledger.accept(paid.clone(), now).unwrap();
    assert_eq!(amounts(&ledger, &bob), vec![60]);
    assert_eq!(amounts(&ledger, &alice), vec![40]);

    // A heavier branch without the payment: the payment is disconnected, coins restored.
    let other = block_on(&world, &genesis, vec![], 2000, &mut rng);
    let heavier = block_on(&world, &other, vec![], 1000, &mut rng);
    ledger.accept(other, now).unwrap();
    ledger.accept(heavier, now).unwrap();
    assert_eq!(amounts(&ledger, &alice), vec![100]);
    assert!(amounts(&ledger, &bob).is_empty());
    drop(ledger);

    // A store whose index is missing (written before it existed) is reindexed on open.
    {
        let db = redb::Database::open(&path).unwrap();
        let wtxn = db.begin_write().unwrap();
        let index: redb::TableDefinition<([u8; 32], [u8; 32], u32), ()> =
            redb::TableDefinition::new("utxos_by_script");
        assert!(wtxn.delete_table(index).unwrap());
        wtxn.commit().unwrap();
    }
    let ledger = Ledger::open(&path, &genesis, vkm_node::chain_rules(&rules, 1)).unwrap();
    assert_eq!(amounts(&ledger, &alice), vec![100]);
    std::fs::remove_dir_all(&dir).unwrap();
}
