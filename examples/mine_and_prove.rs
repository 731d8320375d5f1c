//! Mines a block of synthetic key transfers at the paper's difficulty (Algorithm 1),
//! checks it (Algorithm 2), encodes and decodes it, and proves one transaction's
//! inclusion.
//!
//! Run: `cargo run --release --example mine_and_prove`

use std::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm::block::{Block, InclusionProof, Timestamp, deserialize, serialize, synthetic};
use vkm::pow::{Difficulty, Miner, MiningOutcome, verify_proof};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = StdRng::seed_from_u64(2017);
    let mut block = synthetic::block(&mut rng, 200, Difficulty::PAPER.bits(), Timestamp::now());

    let threads = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
    let MiningOutcome::Mined(stats) =
        Miner::new(threads).mine(&mut block, &mut rng, &AtomicBool::new(false))
    else {
        return Err("mining aborted".into());
    };
    println!(
        "mined {} key transfers at {}: {} hashes in {:?} ({} round(s)); the paper reports 4.11 ms",
        block.transactions.len(),
        Difficulty::PAPER,
        stats.hashes,
        stats.elapsed,
        stats.rounds,
    );

    let hash = verify_proof(&block)?;
    println!("Algorithm 2 accepts block {hash}");

    let bytes = serialize(&block);
    let decoded: Block = deserialize(&bytes)?;
    assert_eq!(decoded, block);
    println!(
        "encoded size {} bytes, decodes back to the same block",
        bytes.len()
    );

    let txids = block.txids();
    let proof = InclusionProof::build(&txids, 42).ok_or("no transaction 42")?;
    assert!(proof.verify(&block.header.merkle_root, &txids[42]));
    println!(
        "transaction {} is proven at position 42 with {} hashes",
        txids[42],
        proof.hashes.len()
    );
    Ok(())
}
