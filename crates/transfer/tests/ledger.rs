//! The ledger with the key-transfer rules and real signatures: extension, queries,
//! persistence, reorganisation, orphans, and every rejection the issue lists (with the
//! store left unchanged), including every single-bit flip of a 10-transaction block.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{
    Block, BlockHeader, KeyTransferTx, MemberId, PublicKeyBytes, Timestamp, Transaction, Txid,
    deserialize, serialize,
};
use vkm_ledger::{Accepted, BlockError, Ledger, LedgerError, Registry};
use vkm_pow::Miner;
use vkm_transfer::directory::Directory;
use vkm_transfer::keys::{EncryptionScheme, MemberKeys};
use vkm_transfer::rules::{
    KeyTransferRules, MemberCache, OpenedAhead, Prechecks, open_ahead, sign_block, verify_ahead,
};
use vkm_transfer::scenario::Scenario;
use vkm_transfer::transfer::{TransferError, build_key_transfer};

const T0: u64 = 1_700_000_000_000;
const BITS: u8 = 8;

struct Chain {
    world: Scenario,
    genesis: Block,
    dir: PathBuf,
    rng: StdRng,
    sequence: u64,
}

impl Chain {
    fn new(name: &str) -> Self {
        let mut rng = StdRng::seed_from_u64(5);
        let world = Scenario::new(3, 1, EncryptionScheme::Ieee1609P256, &mut rng);
        let genesis = world.genesis_block(BITS, Timestamp(T0));
        let dir = std::env::temp_dir().join(format!("vkm-ledger-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            world,
            genesis,
            dir,
            rng,
            sequence: 0,
        }
    }

    fn open(&self) -> Ledger {
        Ledger::open(
            self.dir.join("chain.redb"),
            &self.genesis,
            KeyTransferRules::new(2).rule_set(),
        )
        .unwrap()
    }

    fn transfer(&mut self, from: u32, to: u32) -> Transaction {
        let vehicle = self
            .world
            .vehicle(0, Timestamp(T0), 3_600_000, &mut self.rng)
            .unwrap();
        let dest = self.world.directory.member(MemberId(to)).unwrap();
        self.sequence += 1;
        let keys = self.world.keys(MemberId(from)).unwrap();
        Transaction::KeyTransfer(
            build_key_transfer(
                keys,
                MemberId(from),
                self.sequence,
                dest,
                Timestamp(T0),
                &vehicle,
                &mut self.rng,
            )
            .unwrap(),
        )
    }

    /// A mined, signed block on `parent` by security manager `miner`.
    fn block_on(
        &mut self,
        parent: &Block,
        miner: u32,
        txs: Vec<Transaction>,
        offset_ms: u64,
    ) -> Block {
        let keys = self.world.keys(MemberId(miner)).unwrap().clone();
        self.block_signed_by(parent, miner, &keys, txs, offset_ms)
    }

    fn block_signed_by(
        &mut self,
        parent: &Block,
        miner: u32,
        keys: &MemberKeys,
        txs: Vec<Transaction>,
        offset_ms: u64,
    ) -> Block {
        let mut block = Block {
            header: BlockHeader {
                version: BlockHeader::VERSION,
                prev_block: parent.block_hash(),
                timestamp: Timestamp(parent.header.timestamp.0 + offset_ms),
                difficulty_bits: BITS,
                ..BlockHeader::default()
            },
            miner: MemberId(miner),
            miner_signature: Default::default(),
            transactions: txs,
        };
        Miner::default().mine(&mut block, &mut self.rng, &AtomicBool::new(false));
        sign_block(keys, MemberId(miner), &mut block);
        block
    }
}

fn now() -> Timestamp {
    Timestamp(T0 + 3_600_000)
}

fn invalid(result: Result<Accepted, LedgerError>) -> BlockError {
    match result {
        Err(LedgerError::Invalid { error, .. }) => error,
        other => panic!("expected an invalid block, got {other:?}"),
    }
}

#[test]
fn extends_queries_persists_and_revalidates() {
    let mut c = Chain::new("extend");
    let mut ledger = c.open();
    let txs = vec![c.transfer(1, 2), c.transfer(2, 3), c.transfer(1, 3)];
    let genesis = c.genesis.clone();
    let b1 = c.block_on(&genesis, 1, txs.clone(), 1000);
    match ledger.accept(b1.clone(), now()).unwrap() {
        Accepted::Connected(update) => assert_eq!(update.connected.len(), 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(ledger.height(), 1);
    let txid = txs[1].txid();
    let located = ledger.transaction(&txid).unwrap().unwrap();
    assert_eq!(located.transaction, txs[1]);
    assert!(located.proof.verify(&b1.header.merkle_root, &txid));
    let found = ledger
        .transfers_between(
            MemberId(1),
            MemberId(3),
            Timestamp(T0 - 1),
            Timestamp(T0 + 1),
        )
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, txs[2].txid());
    assert_eq!(ledger.registry_at(1).unwrap().len(), 6);
    drop(ledger);

    // Restarted from its store, the node continues the chain.
    let mut ledger = c.open();
    assert_eq!(ledger.tip(), b1.block_hash());
    let t = c.transfer(3, 1);
    let b2 = c.block_on(&b1, 2, vec![t], 1000);
    assert!(matches!(
        ledger.accept(b2, now()).unwrap(),
        Accepted::Connected(_)
    ));
    let summary = ledger.revalidate(now()).unwrap();
    assert_eq!(summary.height, 2);
    assert_eq!(summary.transactions, 1 + 3 + 1);
}

#[test]
fn rejections_leave_the_store_unchanged() {
    let mut c = Chain::new("reject");
    let mut ledger = c.open();
    let genesis = c.genesis.clone();
    let first = c.transfer(1, 2);
    let b1 = c.block_on(&genesis, 1, vec![first.clone()], 1000);
    ledger.accept(b1.clone(), now()).unwrap();
    let tip = ledger.tip();

    // An unregistered miner (keys nobody registered, claiming an unused id).
    let outsider = MemberKeys::generate(EncryptionScheme::Ieee1609P256, &mut c.rng);
    let b = c.block_signed_by(&b1, 77, &outsider, vec![], 1000);
    assert_eq!(
        invalid(ledger.accept(b, now())),
        BlockError::UnknownMiner(MemberId(77))
    );
    // A forged miner signature: a registered id, signed with other keys.
    let b = c.block_signed_by(&b1, 2, &outsider, vec![], 1000);
    assert_eq!(
        invalid(ledger.accept(b, now())),
        BlockError::BadMinerSignature
    );
    // A replayed transfer: the same transaction again.
    let b = c.block_on(&b1, 2, vec![first.clone()], 1000);
    assert!(matches!(
        invalid(ledger.accept(b, now())),
        BlockError::DuplicateTransaction(_)
    ));
    // A replayed sequence number in a new transaction.
    c.sequence -= 1;
    let reused = c.transfer(1, 3);
    let b = c.block_on(&b1, 2, vec![reused], 1000);
    assert!(matches!(
        invalid(ledger.accept(b, now())),
        BlockError::SequenceReused { .. }
    ));
    // A duplicated transaction within one block.
    let t = c.transfer(2, 3);
    let b = c.block_on(&b1, 2, vec![t.clone(), t], 1000);
    assert!(matches!(
        invalid(ledger.accept(b, now())),
        BlockError::DuplicateTransaction(_)
    ));
    // A timestamp from the future.
    let b = c.block_on(&b1, 2, vec![], 10 * 3_600_000);
    assert!(matches!(
        invalid(ledger.accept(b, now())),
        BlockError::TimestampInFuture { .. }
    ));
    // A transfer whose signature does not verify.
    let Transaction::KeyTransfer(mut bad) = c.transfer(2, 1) else {
        unreachable!()
    };
    bad.signature.0[3] ^= 1;
    let b = c.block_on(&b1, 3, vec![Transaction::KeyTransfer(bad)], 1000);
    assert!(matches!(
        invalid(ledger.accept(b, now())),
        BlockError::Transaction { index: 0, .. }
    ));

    assert_eq!(ledger.tip(), tip);
    assert_eq!(ledger.height(), 1);
    drop(ledger);
    let reopened = c.open();
    assert_eq!(reopened.tip(), tip);
    assert_eq!(reopened.revalidate(now()).unwrap().height, 1);
}

#[test]
fn every_single_bit_flip_of_a_block_is_rejected() {
    let mut c = Chain::new("flips");
    let mut ledger = c.open();
    let genesis = c.genesis.clone();
    let txs: Vec<_> = (0..10)
        .map(|i| c.transfer(1 + i % 3, 1 + (i + 1) % 3))
        .collect();
    let block = c.block_on(&genesis, 2, txs, 1000);
    let bytes = serialize(&block);
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let Ok(candidate) = deserialize::<Block>(&flipped) else {
            continue;
        };
        match ledger.accept(candidate, now()) {
            Err(LedgerError::Invalid { .. }) | Ok(Accepted::Orphan(_)) => {}
            other => panic!("bit {bit}: {other:?}"),
        }
        assert_eq!(ledger.height(), 0, "bit {bit}");
    }
    // The original still connects.
    assert!(matches!(
        ledger.accept(block, now()).unwrap(),
        Accepted::Connected(_)
    ));
}

#[test]
fn heavier_branch_reorganises_and_orphans_connect() {
    let mut c = Chain::new("reorg");
    let mut ledger = c.open();
    let genesis = c.genesis.clone();
    let ta = c.transfer(1, 2);
    let a = c.block_on(&genesis, 1, vec![ta.clone()], 1000);
    let tb = c.transfer(2, 3);
    let b = c.block_on(&genesis, 2, vec![tb], 1001);
    let bc = c.block_on(&b, 3, vec![ta.clone()], 1000);
    // Equal work: the lower hash wins, in whichever order the two arrive.
    let lower = a.block_hash().min(b.block_hash());
    {
        let other = Chain::new("reorg-order");
        let mut first_b = other.open();
        first_b.accept(b.clone(), now()).unwrap();
        first_b.accept(a.clone(), now()).unwrap();
        assert_eq!(first_b.tip(), lower);
    }
    assert!(matches!(
        ledger.accept(a.clone(), now()).unwrap(),
        Accepted::Connected(_)
    ));
    let accepted = ledger.accept(b.clone(), now()).unwrap();
    assert_eq!(ledger.tip(), lower);
    if lower == a.block_hash() {
        assert_eq!(accepted, Accepted::SideBranch(b.block_hash()));
    }
    // More work on b's branch: reorganise (if a was the tip); a's transaction moves
    // into bc.
    let reorganised = ledger.tip() == a.block_hash();
    match ledger.accept(bc.clone(), now()).unwrap() {
        Accepted::Connected(update) => {
            if reorganised {
                assert_eq!(update.disconnected, vec![a.clone()]);
                let hashes: Vec<_> = update.connected.iter().map(|v| v.hash()).collect();
                assert_eq!(hashes, vec![b.block_hash(), bc.block_hash()]);
            } else {
                assert_eq!(update.connected.len(), 1);
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ledger.reorgs(), 1);
    assert_eq!(
        ledger.transaction(&ta.txid()).unwrap().unwrap().block,
        bc.block_hash()
    );
    assert_eq!(ledger.revalidate(now()).unwrap().height, 2);

    // A child before its parent waits, then connects with it.
    let d = c.block_on(&bc, 1, vec![], 1000);
    let e = c.block_on(&d, 2, vec![], 1000);
    assert_eq!(
        ledger.accept(e.clone(), now()).unwrap(),
        Accepted::Orphan(e.block_hash())
    );
    assert_eq!(ledger.orphans(), 1);
    match ledger.accept(d, now()).unwrap() {
        Accepted::Connected(update) => assert_eq!(update.connected.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(ledger.tip(), e.block_hash());
    assert_eq!(ledger.orphans(), 0);
}

#[test]
fn revocation_on_the_chain_is_refused_from_the_next_block_on() {
    use vkm_transfer::central::{issue_pseudonym_set, revocation};
    use vkm_transfer::certificate::CertificateError;
    use vkm_transfer::transfer::{TransferError, admit};

    let mut c = Chain::new("revoke");
    let mut ledger = c.open();
    let genesis = c.genesis.clone();
    let cm = c.world.domains[0].central_manager.clone();
    let set = issue_pseudonym_set(
        cm.id,
        &cm.keys,
        3,
        Timestamp(T0),
        Timestamp(T0 + 3_600_000),
        &mut c.rng,
    );
    let (t1, t2) = {
        let dest = c.world.directory.member(MemberId(2)).unwrap();
        let keys1 = c.world.keys(MemberId(1)).unwrap();
        let mut rng = StdRng::seed_from_u64(12);
        let mut transfer = |seq, pseudonym: &vkm_transfer::central::Pseudonym| {
            build_key_transfer(
                keys1,
                MemberId(1),
                seq,
                dest,
                Timestamp(T0),
                &pseudonym.materials,
                &mut rng,
            )
            .unwrap()
        };
        (transfer(1, &set[0]), transfer(2, &set[1]))
    };

    // Before the revocation: admitted.
    let b1 = c.block_on(
        &genesis,
        1,
        vec![Transaction::KeyTransfer(t1.clone())],
        1000,
    );
    ledger.accept(b1.clone(), now()).unwrap();
    let dest_keys = c.world.keys(MemberId(2)).unwrap().clone();
    let rules = KeyTransferRules::new(1);
    let directory = rules.cache().directory(ledger.registry());
    admit(
        &t1,
        &dest_keys,
        MemberId(2),
        &directory,
        Timestamp(T0 + 10_000),
    )
    .unwrap();

    // The central manager revokes the whole set; a block carries it.
    let ids: Vec<_> = set.iter().map(|p| p.materials.certificate.id()).collect();
    let revoke = revocation(cm.id, &cm.keys, &ids, Timestamp(T0 + 2000));
    let b2 = c.block_on(&b1, 2, vec![Transaction::Registry(revoke)], 1000);
    assert!(matches!(
        ledger.accept(b2.clone(), now()).unwrap(),
        Accepted::Connected(_)
    ));
    assert!(ledger.registry().is_revoked(&ids[1]));

    // From then on a transfer of a revoked pseudonym is refused at admission.
    let b3 = c.block_on(&b2, 3, vec![Transaction::KeyTransfer(t2.clone())], 1000);
    ledger.accept(b3, now()).unwrap();
    let directory = rules.cache().directory(ledger.registry());
    assert_eq!(
        admit(
            &t2,
            &dest_keys,
            MemberId(2),
            &directory,
            Timestamp(T0 + 10_000)
        ),
        Err(TransferError::Certificate(CertificateError::Revoked))
    );

    // A revocation not signed by a central manager is refused by the chain.
    let forged = revocation(
        MemberId(1),
        c.world.keys(MemberId(1)).unwrap(),
        &ids,
        Timestamp(T0 + 3000),
    );
    let tip = ledger.block_at(ledger.height()).unwrap().unwrap();
    let b4 = c.block_on(&tip, 1, vec![Transaction::Registry(forged)], 1000);
    assert_eq!(
        invalid(ledger.accept(b4, now())),
        BlockError::UnauthorizedRegistry(0)
    );
}

/// Checks done ahead as a driver keeps them for the rules ([`Prechecks`]), each result
/// tagged, and the tags of the results the rules took.
#[derive(Debug, Default)]
struct Ahead {
    signatures: Mutex<HashMap<(Txid, PublicKeyBytes), u64>>,
    #[allow(clippy::type_complexity)]
    openings: Mutex<HashMap<(Txid, [u8; 32]), (OpenedAhead, u64)>>,
    used: Mutex<Vec<u64>>,
}

impl Ahead {
    fn verify(
        &self,
        cache: &MemberCache,
        tx: &KeyTransferTx,
        registry: &Registry,
        tag: u64,
    ) -> Result<(), TransferError> {
        let signer = verify_ahead(cache, tx, registry)?;
        let txid = Transaction::KeyTransfer(tx.clone()).txid();
        self.signatures.lock().unwrap().insert((txid, signer), tag);
        Ok(())
    }

    fn open(
        &self,
        cache: &MemberCache,
        tx: &KeyTransferTx,
        keys: &MemberKeys,
        registry: &Registry,
        tag: u64,
    ) -> Result<(), TransferError> {
        let (binding, opened) = open_ahead(cache, tx, keys, registry)?;
        let txid = Transaction::KeyTransfer(tx.clone()).txid();
        self.openings
            .lock()
            .unwrap()
            .insert((txid, binding), (opened, tag));
        Ok(())
    }

    fn take_used(&self) -> Vec<u64> {
        std::mem::take(&mut self.used.lock().unwrap())
    }
}

impl Prechecks for Ahead {
    fn take_signature(&self, txid: &Txid, signer: &PublicKeyBytes) -> bool {
        let tag = self.signatures.lock().unwrap().remove(&(*txid, *signer));
        tag.map(|t| self.used.lock().unwrap().push(t)).is_some()
    }

    fn take_opening(&self, txid: &Txid, binding: &[u8; 32]) -> Option<OpenedAhead> {
        let (opened, tag) = self.openings.lock().unwrap().remove(&(*txid, *binding))?;
        self.used.lock().unwrap().push(tag);
        Some(opened)
    }
}

#[test]
fn a_signature_verified_ahead_is_taken_once_on_arrival_for_the_same_key() {
    let mut c = Chain::new("ahead");
    let ledger = c.open();
    let registry = ledger.registry().clone();
    let ahead = Arc::new(Ahead::default());
    let rules = KeyTransferRules::new(1).with_prechecks(ahead.clone());
    let seen = std::collections::HashSet::new();
    let Transaction::KeyTransfer(tx) = c.transfer(1, 2) else {
        unreachable!()
    };

    // Verified on another thread, then checked on arrival: the verdict is taken.
    let (worker, cache) = (ahead.clone(), rules.cache().clone());
    let (ahead_tx, ahead_registry) = (tx.clone(), registry.clone());
    std::thread::spawn(move || worker.verify(&cache, &ahead_tx, &ahead_registry, 7))
        .join()
        .unwrap()
        .unwrap();
    rules.check_and_remember(&tx, &registry, &seen).unwrap();
    assert_eq!(ahead.take_used(), vec![7]);
    // Taken once: a second arrival verifies again.
    rules.check_and_remember(&tx, &registry, &seen).unwrap();
    assert!(ahead.take_used().is_empty());

    // A forged signature is refused ahead and on arrival, and nothing is taken.
    let mut forged = tx.clone();
    forged.sequence += 1;
    assert!(ahead.verify(rules.cache(), &forged, &registry, 8).is_err());
    assert!(rules.check_and_remember(&forged, &registry, &seen).is_err());
    assert!(ahead.take_used().is_empty());

    // A verdict is for the signer's key: under a registry where the source has another
    // key, it is not taken and the signature does not verify.
    let other_registry = other_world_registry();
    assert_ne!(
        other_registry.get(tx.source).unwrap().signing_key,
        registry.get(tx.source).unwrap().signing_key
    );
    ahead.verify(rules.cache(), &tx, &registry, 9).unwrap();
    assert!(
        rules
            .check_and_remember(&tx, &other_registry, &seen)
            .is_err()
    );
    assert!(ahead.take_used().is_empty());

    // The rules other than the signature are still checked on arrival: a replayed
    // sequence number is refused even with a verdict ahead, and not counted.
    ahead.verify(rules.cache(), &tx, &registry, 10).unwrap();
    let replayed: std::collections::HashSet<_> = [(tx.source, tx.sequence)].into();
    assert!(rules.check_and_remember(&tx, &registry, &replayed).is_err());
    assert!(ahead.take_used().is_empty());
}

/// The registry of a world with other keys for the same member ids.
fn other_world_registry() -> vkm_ledger::Registry {
    let other = Scenario::new(
        3,
        1,
        EncryptionScheme::Ieee1609P256,
        &mut StdRng::seed_from_u64(6),
    );
    Ledger::in_memory(
        &other.genesis_block(BITS, Timestamp(T0)),
        KeyTransferRules::new(1).rule_set(),
    )
    .unwrap()
    .registry()
    .clone()
}

#[test]
fn materials_opened_ahead_admit_like_opening_on_arrival() {
    let mut c = Chain::new("open-ahead");
    let ledger = c.open();
    let registry = ledger.registry().clone();
    let directory = KeyTransferRules::new(1).cache().directory(&registry);
    let ahead = Arc::new(Ahead::default());
    let rules = KeyTransferRules::new(1).with_prechecks(ahead.clone());
    let keys = c.world.keys(MemberId(2)).unwrap().clone();
    let Transaction::KeyTransfer(tx) = c.transfer(1, 2) else {
        unreachable!()
    };
    let inline =
        vkm_transfer::transfer::admit(&tx, &keys, MemberId(2), &directory, Timestamp(T0 + 1000))
            .unwrap();

    // Opened on another thread, taken at admission: the same vehicle, tag handed back.
    let (worker, cache, ahead_tx, ahead_keys, ahead_registry) = (
        ahead.clone(),
        rules.cache().clone(),
        tx.clone(),
        keys.clone(),
        registry.clone(),
    );
    std::thread::spawn(move || worker.open(&cache, &ahead_tx, &ahead_keys, &ahead_registry, 3))
        .join()
        .unwrap()
        .unwrap();
    let admitted = rules
        .admit(&tx, &keys, MemberId(2), &directory, Timestamp(T0 + 1000))
        .unwrap();
    assert_eq!(admitted, inline);
    assert_eq!(ahead.take_used(), vec![3]);

    // Validity is checked at admission, not ahead: an expired certificate is refused.
    ahead.open(rules.cache(), &tx, &keys, &registry, 4).unwrap();
    let late = Timestamp(T0 + 3_600_000 * 100);
    assert!(
        rules
            .admit(&tx, &keys, MemberId(2), &directory, late)
            .is_err()
    );
    assert_eq!(ahead.take_used(), vec![4]);

    // Another security manager's keys cannot open it ahead, and nothing is kept.
    let wrong = c.world.keys(MemberId(3)).unwrap().clone();
    assert!(
        ahead
            .open(rules.cache(), &tx, &wrong, &registry, 5)
            .is_err()
    );
    rules
        .admit(&tx, &keys, MemberId(2), &directory, Timestamp(T0 + 1000))
        .unwrap();
    assert!(ahead.take_used().is_empty());

    // The destination is still checked at admission.
    ahead.open(rules.cache(), &tx, &keys, &registry, 6).unwrap();
    assert!(matches!(
        rules.admit(&tx, &keys, MemberId(3), &directory, Timestamp(T0 + 1000)),
        Err(vkm_transfer::transfer::TransferError::NotForUs(_))
    ));
    assert!(ahead.take_used().is_empty());
}

#[test]
fn only_the_sources_own_keys_vouch_for_a_transfer() {
    let mut c = Chain::new("own");
    let rules = KeyTransferRules::new(1);
    let mut ledger = Ledger::open(
        c.dir.join("chain.redb"),
        &c.genesis,
        rules.clone().rule_set(),
    )
    .unwrap();
    let registry = ledger.registry().clone();
    let Transaction::KeyTransfer(mut forged) = c.transfer(1, 2) else {
        unreachable!()
    };
    forged.timestamp = Timestamp(forged.timestamp.0 + 1); // the signature no longer matches
    let genesis = c.genesis.clone();

    // Another member's keys do not make it "own": the block carrying it is refused.
    let other = c.world.keys(MemberId(2)).unwrap().clone();
    rules.remember_own(&forged, &other, &registry);
    let refused = c.block_on(
        &genesis,
        1,
        vec![Transaction::KeyTransfer(forged.clone())],
        1000,
    );
    assert!(matches!(
        ledger.accept(refused, now()),
        Err(LedgerError::Invalid { .. })
    ));

    // The source's own keys do: the node takes its own word for what it signed.
    let own = c.world.keys(MemberId(1)).unwrap().clone();
    rules.remember_own(&forged, &own, &registry);
    let vouched = c.block_on(&genesis, 1, vec![Transaction::KeyTransfer(forged)], 2000);
    assert!(matches!(
        ledger.accept(vouched, now()),
        Ok(Accepted::Connected(_))
    ));
}

/// An index entry pointing elsewhere: the store opens (read-only, nothing written), the
/// lookup refuses to hand back another transaction, and revalidation names the table.
#[test]
fn an_index_entry_pointing_elsewhere_is_found_and_named() {
    let mut c = Chain::new("index");
    let path = c.dir.join("chain.redb");
    use redb::ReadableTable;
    let (moved, other) = {
        let mut ledger = c.open();
        let genesis = c.genesis.clone();
        let txs = vec![c.transfer(1, 2), c.transfer(2, 3)];
        let ids: Vec<Txid> = txs.iter().map(Transaction::txid).collect();
        let b1 = c.block_on(&genesis, 1, txs, 1000);
        ledger.accept(b1, now()).unwrap();
        (ids[0], ids[1])
    };
    let rules = || KeyTransferRules::new(1).rule_set();
    {
        let ledger = Ledger::open_read_only(&path, rules()).unwrap();
        assert!(ledger.revalidate(now()).is_ok());
        assert_eq!(
            ledger
                .transaction(&moved)
                .unwrap()
                .unwrap()
                .transaction
                .txid(),
            moved
        );
    }
    // Damage: the first transfer's entry names the second's position.
    {
        let db = redb::Database::open(&path).unwrap();
        let table: redb::TableDefinition<[u8; 32], ([u8; 32], u32)> =
            redb::TableDefinition::new("tx_index");
        let write = db.begin_write().unwrap();
        {
            let mut index = write.open_table(table).unwrap();
            let (block, position) = index.get(other.0).unwrap().unwrap().value();
            index.insert(moved.0, (block, position)).unwrap();
        }
        write.commit().unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let ledger = Ledger::open_read_only(&path, rules()).unwrap();
    match ledger.transaction(&moved) {
        Err(LedgerError::Damaged { table, detail }) => {
            assert_eq!(table, "tx_index");
            assert!(detail.contains("holds another transaction"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ledger.revalidate(now()),
        Err(LedgerError::Damaged {
            table: "tx_index",
            ..
        })
    ));
    drop(ledger);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "read-only open wrote"
    );
    let mut ledger = Ledger::open_read_only(&path, rules()).unwrap();
    let genesis = c.genesis.clone();
    let b = c.block_on(&genesis, 2, vec![], 2000);
    assert!(matches!(
        ledger.accept(b, now()),
        Err(LedgerError::ReadOnly)
    ));
}

/// Every occurrence of `needle` in `haystack`, by offset.
fn occurrences(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// `vkm_ledger::repair`: an intact store rebuilds to the same chain; a store whose second
/// block is damaged (every copy of it in the file) rebuilds up to the block before it,
/// reports the heights lost and the block it could not connect, and the damaged file is
/// never written; an existing output is refused.
#[test]
fn repair_rebuilds_from_the_blocks_that_still_validate() {
    use vkm_ledger::repair::{Integrity, repair};
    let mut c = Chain::new("repair");
    let path = c.dir.join("chain.redb");
    let genesis = c.genesis.clone();
    let mut blocks = vec![genesis.clone()];
    let side = {
        let mut ledger = c.open();
        for i in 0..3u32 {
            let txs = vec![c.transfer(1 + i % 3, 1 + (i + 1) % 3), c.transfer(2, 1)];
            let parent = blocks.last().unwrap().clone();
            let block = c.block_on(&parent, 1 + i % 3, txs, 1000);
            ledger.accept(block.clone(), now()).unwrap();
            blocks.push(block);
        }
        // A side branch on block 1, with less work than the best chain.
        let side = c.block_on(&blocks[1], 3, vec![], 1500);
        assert!(matches!(
            ledger.accept(side.clone(), now()).unwrap(),
            Accepted::SideBranch(_)
        ));
        side
    };
    let rules = || KeyTransferRules::new(1).rule_set();

    let intact = c.dir.join("intact.redb");
    let report = repair(&path, &intact, None, rules(), now()).unwrap();
    assert_eq!(report.integrity, Integrity::Verified { unclean: false });
    assert_eq!(report.genesis, genesis.block_hash());
    assert_eq!(report.recovered.height, 3);
    assert_eq!(report.recovered.tip, blocks[3].block_hash());
    assert_eq!(report.side_blocks, 1);
    assert_eq!(report.found, 5);
    assert!(report.invalid.is_empty() && report.unconnected.is_empty());
    assert_eq!(report.previous.as_ref().unwrap().lost, Vec::<u64>::new());
    let rebuilt = Ledger::open_read_only(&intact, rules()).unwrap();
    assert_eq!(rebuilt.revalidate(now()).unwrap().transactions, 1 + 3 * 2);

    // Damage every stored copy of block 2: one byte of its first transaction.
    let mut bytes = std::fs::read(&path).unwrap();
    let encoded = serialize(&blocks[2]);
    let at = occurrences(&bytes, &encoded);
    assert!(!at.is_empty(), "block 2 is stored contiguously");
    for offset in at {
        bytes[offset + encoded.len() - 40] ^= 0x01;
    }
    let damaged = c.dir.join("damaged.redb");
    std::fs::write(&damaged, &bytes).unwrap();
    let out = c.dir.join("rebuilt.redb");
    let report = repair(&damaged, &out, None, rules(), now()).unwrap();
    // Block 2 is gone, so the side block on block 1 is now the best chain's tip.
    assert_eq!(report.recovered.height, 2);
    assert_eq!(report.recovered.tip, side.block_hash());
    assert_eq!(report.side_blocks, 0);
    assert_eq!(report.previous.as_ref().unwrap().height, 3);
    assert_eq!(report.previous.as_ref().unwrap().lost, vec![2, 3]);
    assert_eq!(report.unconnected, vec![blocks[3].block_hash()]);
    assert_eq!(std::fs::read(&damaged).unwrap(), bytes, "repair wrote");
    Ledger::open_read_only(&out, rules())
        .unwrap()
        .revalidate(now())
        .unwrap();

    assert!(matches!(
        repair(&damaged, &out, None, rules(), now()),
        Err(LedgerError::OutputExists(_))
    ));
    // A given genesis of another chain connects nothing found.
    let other = c.world.genesis_block(BITS, Timestamp(T0 + 1));
    let report = repair(
        &path,
        &c.dir.join("other.redb"),
        Some(&other),
        rules(),
        now(),
    )
    .unwrap();
    assert_eq!(report.recovered.height, 0);
    assert_eq!(report.genesis, other.block_hash());
}
