//! Crash safety of the ledger: a child process appends blocks and reports each one after
//! `accept` returns (the commit is durable); the parent kills it with SIGKILL at random
//! points, many times, then checks that every reported block is still on the chain and
//! that the store opens and revalidates.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use vkm_block::{Block, BlockHash, BlockHeader, MemberId, Timestamp, Transaction};
use vkm_ledger::Ledger;
use vkm_pow::Miner;
use vkm_transfer::directory::Directory;
use vkm_transfer::keys::EncryptionScheme;
use vkm_transfer::rules::{KeyTransferRules, sign_block};
use vkm_transfer::scenario::Scenario;
use vkm_transfer::transfer::build_key_transfer;

const DIR_VAR: &str = "VKM_CRASH_TEST_DIR";
const T0: u64 = 1_700_000_000_000;

fn world() -> (Scenario, Block) {
    let world = Scenario::new(
        2,
        1,
        EncryptionScheme::Ieee1609P256,
        &mut StdRng::seed_from_u64(11),
    );
    let genesis = world.genesis_block(4, Timestamp(T0));
    (world, genesis)
}

fn open(dir: &Path, genesis: &Block) -> Ledger {
    Ledger::open(
        dir.join("chain.redb"),
        genesis,
        KeyTransferRules::new(1).rule_set(),
    )
    .unwrap()
}

/// The child: appends blocks of three transfers forever, printing each committed hash.
#[test]
#[ignore = "run by crash_at_random_points as a child process"]
fn crash_writer() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let (world, genesis) = world();
    let mut ledger = open(Path::new(&dir), &genesis);
    let mut rng = StdRng::seed_from_u64(ledger.height());
    let now = Timestamp(T0 + 365 * 24 * 3_600_000);
    loop {
        let height = ledger.height() + 1;
        let tip = ledger.block_at(ledger.height()).unwrap().unwrap();
        let txs = (0..3u64)
            .map(|i| {
                let vehicle = world
                    .vehicle(0, Timestamp(T0), 3_600_000, &mut rng)
                    .unwrap();
                let dest = world.directory.member(MemberId(2)).unwrap();
                let keys = world.keys(MemberId(1)).unwrap();
                Transaction::KeyTransfer(
                    build_key_transfer(
                        keys,
                        MemberId(1),
                        height * 10 + i,
                        dest,
                        Timestamp(T0),
                        &vehicle,
                        &mut rng,
                    )
                    .unwrap(),
                )
            })
            .collect();
        let mut block = Block {
            header: BlockHeader {
                version: BlockHeader::VERSION,
                prev_block: tip.block_hash(),
                timestamp: Timestamp(tip.header.timestamp.0 + 10),
                difficulty_bits: 4,
                ..BlockHeader::default()
            },
            miner: MemberId(1),
            miner_signature: Default::default(),
            transactions: txs,
        };
        Miner::default().mine(&mut block, &mut rng, &AtomicBool::new(false));
        sign_block(world.keys(MemberId(1)).unwrap(), MemberId(1), &mut block);
        ledger.accept(block.clone(), now).unwrap();
        println!("committed {} {}", height, block.block_hash());
    }
}

#[test]
fn crash_at_random_points() {
    let dir = std::env::temp_dir().join(format!("vkm-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (_, genesis) = world();
    let mut rng = StdRng::seed_from_u64(99);
    let mut reported: Vec<(u64, BlockHash)> = Vec::new();
    let rounds = 12;
    for _ in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_writer",
                "--ignored",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(DIR_VAR, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Read the child's reports on a thread; kill after a random delay.
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("committed ") {
                    let mut parts = rest.split(' ');
                    let height: u64 = parts.next().unwrap().parse().unwrap();
                    let hash: BlockHash = parts.next().unwrap().parse().unwrap();
                    lines.push((height, hash));
                }
            }
            lines
        });
        let delay = Duration::from_millis(rng.random_range(150..600));
        let started = Instant::now();
        while started.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reported.extend(reader.join().unwrap());

        let ledger = open(&dir, &genesis);
        for (height, hash) in &reported {
            let block = ledger.block_at(*height).unwrap();
            assert_eq!(
                block.map(|b| b.block_hash()),
                Some(*hash),
                "block {height} reported committed is gone"
            );
        }
        ledger
            .revalidate(Timestamp(T0 + 365 * 24 * 3_600_000))
            .unwrap();
    }
    assert!(
        reported.len() > rounds,
        "the child committed blocks ({})",
        reported.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
