//! Catching-up messages from a hostile peer, built from arbitrary bytes, handed to a
//! security manager: a locator (`GetBlocks`), a tip, or an answer to a request it made
//! (`Blocks`, decoded with the codec's limits). Never a panic, never more than one
//! bounded answer, and nothing that does not validate reaches the chain.
#![no_main]

use std::sync::{LazyLock, Mutex};

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use vkm_block::{Block, BlockHash, Decode, MemberId, Reader, Timestamp};
use vkm_ledger::Ledger;
use vkm_node::sm::{Action, Event, MAX_SYNC_BLOCKS, Message, NodeConfig, SecurityManager};
use vkm_period::{CollectionPeriod, FixedPolicy};
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::rules::KeyTransferRules;
use vkm_transfer::scenario::Scenario;

const T0: u64 = 1_700_000_000_000;

static MANAGER: LazyLock<Mutex<SecurityManager>> = LazyLock::new(|| {
    let world = Scenario::new(2, 1, EncryptionScheme::Ieee1609P256, &mut rand::rngs::StdRng::seed_from_u64(0));
    let genesis = world.genesis_block(4, Timestamp(T0));
    let rules = KeyTransferRules::new(1);
    let ledger = Ledger::in_memory(&genesis, vkm_node::chain_rules(&rules, 1)).expect("ledger");
    let period = CollectionPeriod::new(1.0).expect("period");
    let keys = world.keys(MemberId(1)).expect("keys").clone();
    let sm = SecurityManager::new(MemberId(1), keys, ledger, rules, Box::new(FixedPolicy(period)), period, NodeConfig::default())
        .expect("manager");
    Mutex::new(sm)
});

fn hashes(bytes: &[u8]) -> Vec<BlockHash> {
    bytes.chunks_exact(32).map(|c| BlockHash(c.try_into().unwrap_or([0; 32]))).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    let mut sm = MANAGER.lock().unwrap_or_else(|e| e.into_inner());
    let (tip, height) = (sm.ledger().tip(), sm.ledger().height());
    let now = Timestamp(T0 + 60_000 + u64::from(kind) * 100);
    let peer = MemberId(2);
    let message = match kind % 3 {
        0 => Message::GetBlocks { locator: hashes(rest) },
        1 => Message::Tip {
            height: rest.len() as u64,
            hash: hashes(rest).first().copied().unwrap_or_default(),
        },
        _ => {
            // Make a request pending at the peer first, then answer it.
            let _ = sm.handle(
                Event::Received { from: peer, message: Message::Tip { height: u64::MAX, hash: BlockHash([0xee; 32]) } },
                now,
            );
            let mut reader = Reader::new(rest);
            let mut blocks = Vec::new();
            while let Ok(block) = Block::decode(&mut reader) {
                blocks.push(block);
            }
            Message::Blocks(blocks)
        }
    };
    let actions = sm.handle(Event::Received { from: peer, message }, now).expect("in-memory store");
    let answers = actions
        .iter()
        .filter(|a| matches!(a, Action::Send { message: Message::Blocks(_), .. }))
        .count();
    assert!(answers <= 1);
    for action in &actions {
        if let Action::Send { message: Message::Blocks(b), .. } = action {
            assert!(b.len() <= MAX_SYNC_BLOCKS);
        }
    }
    // Random bytes carry no proof of work signed by a member: the chain stays.
    assert_eq!((sm.ledger().tip(), sm.ledger().height()), (tip, height));
});
