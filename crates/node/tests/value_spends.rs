//! A security manager collects value transactions by the ledger's own coin rules: a
//! spend of one coin passes; a spend naming the same coin twice (both inputs validly
//! signed) is refused, as the ledger would refuse a block holding it.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{Amount, MemberId, OutPoint, ScriptBytes, Timestamp, TxIn, TxOut, ValueTx};
use vkm_coins::{Wallet, genesis_allocation, value_txid};
use vkm_ledger::Ledger;
use vkm_node::sm::{Action, Event, Message, NodeConfig, SecurityManager};
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
        .handle(Event::Received(Message::Value(double)), now)
        .unwrap();
    assert!(
        matches!(&actions[..], [Action::Refused(reason)] if reason.contains("missing or spent")),
        "{actions:?} (coin {coin:?})"
    );
    assert_eq!(sm.mempool_len(), 0);

    // One honest spend of the coin is collected and broadcast.
    let spend = wallet.build_spend(vec![pay(60)], &[]).unwrap();
    let txid = value_txid(&spend);
    let actions = sm
        .handle(Event::Received(Message::Value(spend)), now)
        .unwrap();
    assert!(
        matches!(&actions[..], [Action::Broadcast(Message::Value(v))] if value_txid(v) == txid)
    );
    assert_eq!(sm.mempool_len(), 1);
}
