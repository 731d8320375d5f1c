//! Catching up with peers that misbehave: a flood of requests, an oversized locator,
//! answers nobody asked for, forged blocks, oversized batches and chains of blocks whose
//! parents are unknown all get bounded work, and nothing stored changes.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::sync::atomic::AtomicBool;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{Block, BlockHash, BlockHeader, MemberId, Timestamp};
use vkm_ledger::Ledger;
use vkm_node::sm::{
    Action, Event, MAX_LOCATOR, MAX_SYNC_BLOCKS, Message, NodeConfig, SecurityManager,
};
use vkm_period::{CollectionPeriod, FixedPolicy};
use vkm_pow::Miner;
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::rules::{KeyTransferRules, sign_block};
use vkm_transfer::scenario::Scenario;

const T0: u64 = 1_700_000_000_000;
const BITS: u8 = 8;

struct Net {
    world: Scenario,
    genesis: Block,
    rng: StdRng,
}

impl Net {
    fn new() -> Self {
        let mut rng = StdRng::seed_from_u64(21);
        let world = Scenario::new(3, 1, EncryptionScheme::Ieee1609P256, &mut rng);
        let genesis = world.genesis_block(BITS, Timestamp(T0));
        Self {
            world,
            genesis,
            rng,
        }
    }

    fn manager(&self, id: u32) -> SecurityManager {
        let period = CollectionPeriod::new(0.5).unwrap();
        let rules = KeyTransferRules::new(1);
        let ledger = Ledger::in_memory(&self.genesis, vkm_node::chain_rules(&rules, 1)).unwrap();
        SecurityManager::new(
            MemberId(id),
            self.world.keys(MemberId(id)).unwrap().clone(),
            ledger,
            rules,
            Box::new(FixedPolicy(period)),
            period,
            NodeConfig::default(),
        )
        .unwrap()
    }

    /// An empty block on `parent`, mined and signed by manager `miner`.
    fn block_on(&mut self, parent: &Block, miner: u32) -> Block {
        let mut block = Block {
            header: BlockHeader {
                version: BlockHeader::VERSION,
                prev_block: parent.block_hash(),
                timestamp: Timestamp(parent.header.timestamp.0 + 10),
                difficulty_bits: BITS,
                ..BlockHeader::default()
            },
            miner: MemberId(miner),
            miner_signature: Default::default(),
            transactions: Vec::new(),
        };
        block.header.merkle_root = block.compute_merkle_root();
        Miner::default().mine(&mut block, &mut self.rng, &AtomicBool::new(false));
        sign_block(
            self.world.keys(MemberId(miner)).unwrap(),
            MemberId(miner),
            &mut block,
        );
        block
    }
}

fn received(from: u32, message: Message) -> Event {
    Event::Received {
        from: MemberId(from),
        message,
    }
}

fn now() -> Timestamp {
    Timestamp(T0 + 60_000)
}

/// The blocks of every answer to `to` in `actions`.
fn answers(actions: &[Action]) -> Vec<&Vec<Block>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                message: Message::Blocks(blocks),
                ..
            } => Some(blocks),
            _ => None,
        })
        .collect()
}

#[test]
fn requests_get_bounded_answers_and_a_flood_is_served_once() {
    let mut net = Net::new();
    let mut server = net.manager(1);
    // A chain of 40 blocks on the server.
    let mut tip = net.genesis.clone();
    for _ in 0..40 {
        tip = net.block_on(&tip, 1);
        server
            .handle(received(2, Message::Block(tip.clone())), now())
            .unwrap();
    }
    assert_eq!(server.ledger().height(), 40);
    let stored = server.ledger().tip();

    // An oversized locator of unknown hashes, then genesis: only MAX_LOCATOR hashes are
    // read, so the answer starts after genesis (not found among them) with a full batch.
    let mut locator = vec![BlockHash([7; 32]); 10_000];
    locator.push(net.genesis.block_hash());
    let actions = server
        .handle(received(2, Message::GetBlocks { locator }), now())
        .unwrap();
    let batch = answers(&actions);
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].len(), MAX_SYNC_BLOCKS);
    assert_eq!(batch[0][0].header.prev_block, net.genesis.block_hash());

    // A flood of requests in the same millisecond: one answer.
    let mut answered = 0;
    for _ in 0..1_000 {
        let actions = server
            .handle(
                received(
                    3,
                    Message::GetBlocks {
                        locator: vec![net.genesis.block_hash()],
                    },
                ),
                now(),
            )
            .unwrap();
        answered += answers(&actions).len();
    }
    assert_eq!(answered, 1);
    // Later, from the middle of the chain: what follows, up to the tip.
    let middle = server.ledger().hash_at(30).unwrap();
    let actions = server
        .handle(
            received(
                3,
                Message::GetBlocks {
                    locator: vec![middle],
                },
            ),
            Timestamp(now().0 + 1_000),
        )
        .unwrap();
    assert_eq!(answers(&actions)[0].len(), 10);
    assert_eq!(server.ledger().tip(), stored, "serving changes nothing");
    const { assert!(MAX_LOCATOR < 10_000) };
}

#[test]
fn answers_nobody_asked_for_forged_and_unconnected_blocks_change_nothing() {
    let mut net = Net::new();
    let mut client = net.manager(1);
    let good = net.block_on(&net.genesis.clone(), 2);

    // Unsolicited: ignored whole, even a valid block.
    let actions = client
        .handle(received(2, Message::Blocks(vec![good.clone()])), now())
        .unwrap();
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(client.ledger().height(), 0);

    // Ask peer 2 (a tip it does not know), then get forged answers.
    let ask = |client: &mut SecurityManager| {
        let actions = client
            .handle(
                received(
                    2,
                    Message::Tip {
                        height: 1_000_000,
                        hash: BlockHash([9; 32]),
                    },
                ),
                now(),
            )
            .unwrap();
        assert!(
            actions.iter().any(|a| matches!(
                a,
                Action::Send {
                    message: Message::GetBlocks { .. },
                    ..
                }
            )),
            "{actions:?}"
        );
    };
    ask(&mut client);
    let mut forged = good.clone();
    forged.miner_signature = Default::default();
    let actions = client
        .handle(received(2, Message::Blocks(vec![forged])), now())
        .unwrap();
    assert!(
        actions.iter().any(|a| matches!(a, Action::Refused(_))),
        "{actions:?}"
    );
    assert_eq!(client.ledger().height(), 0);

    // A chain of blocks whose parents nobody has (a long chain hanging from nowhere):
    // the answer stops at the first block that does not connect; oversized batches are
    // read up to MAX_SYNC_BLOCKS.
    ask(&mut client);
    let mut nowhere = Block {
        header: BlockHeader {
            prev_block: BlockHash([5; 32]),
            ..good.header
        },
        ..good.clone()
    };
    let mut chain = Vec::new();
    for _ in 0..100 {
        nowhere = net.block_on(&nowhere, 2);
        chain.push(nowhere.clone());
    }
    client
        .handle(received(2, Message::Blocks(chain)), now())
        .unwrap();
    assert_eq!(client.ledger().height(), 0);
    assert!(
        client.ledger().orphans() <= 1,
        "{}",
        client.ledger().orphans()
    );

    // An honest answer still connects afterwards.
    ask(&mut client);
    client
        .handle(received(2, Message::Blocks(vec![good.clone()])), now())
        .unwrap();
    assert_eq!(client.ledger().tip(), good.block_hash());
    assert!(client.fault_counters().blocks_synced >= 1);
}
