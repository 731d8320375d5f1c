//! The nonce search: SHA-256 midstate, `sha2`'s compression function (SHA-NI when the
//! CPU has it, detected at run time), split over threads.
//!
//! Per nonce the search runs two compressions instead of a naive double SHA-256's three:
//! the header bytes before the last 64-byte block are compressed once per template (the
//! midstate); each nonce then costs the last block of the first hash and the single block
//! of the second. The leading-zero check reads the second hash's state words directly.

use core::num::NonZeroUsize;
use core::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sha2::block_api::compress256;
use sha2::{Digest, Sha256};

use crate::sha_ni::ShaNi;
use crate::{Difficulty, PowHeader};

/// SHA-256 initial hash value (FIPS 180-4, 5.3.3).
pub(crate) const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The padded single block of the second SHA-256: 32 digest bytes, `0x80`, zeros, and
/// the bit length 256.
const SECOND_BLOCK: [u8; 64] = {
    let mut block = [0u8; 64];
    block[32] = 0x80;
    block[62] = 0x01; // 256 = 0x0100, big-endian in the last two bytes
    block
};

/// A header prepared for nonce search: midstate and padded tail.
#[derive(Debug, Clone)]
pub struct NonceTemplate {
    midstate: [u32; 8],
    tail: [u8; 128],
    tail_len: usize,
    nonce_at: usize,
    difficulty: Difficulty,
    /// The two-lane SHA-NI path, when the CPU has it and the tail is one block.
    sha_ni: Option<ShaNi>,
    /// The one-block tail as big-endian words, nonce bytes zero (for the SHA-NI path).
    tail_words: [u32; 16],
}

impl NonceTemplate {
    /// Prepares the search for a header.
    pub fn new<H: PowHeader + ?Sized>(header: &H) -> Self {
        Self::from_prefix(&header.bytes_before_nonce(), header.difficulty())
    }

    /// Prepares the search for the preimage `prefix || nonce (8 bytes LE)`.
    pub fn from_prefix(prefix: &[u8], difficulty: Difficulty) -> Self {
        let full = prefix.len() / 64 * 64;
        let mut midstate = IV;
        let (blocks, _) = prefix[..full].as_chunks::<64>();
        compress256(&mut midstate, blocks);

        let rest = &prefix[full..];
        let message_len = prefix.len() + 8;
        // rest || nonce || 0x80 || zeros || 64-bit length: one block, or two if it spills.
        let tail_len = if rest.len() + 8 + 1 + 8 <= 64 {
            64
        } else {
            128
        };
        let mut tail = [0u8; 128];
        tail[..rest.len()].copy_from_slice(rest);
        tail[rest.len() + 8] = 0x80;
        let bit_len = (message_len as u64) * 8;
        tail[tail_len - 8..tail_len].copy_from_slice(&bit_len.to_be_bytes());
        let mut tail_words = [0u32; 16];
        for (word, bytes) in tail_words.iter_mut().zip(tail.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        Self {
            midstate,
            tail,
            tail_len,
            nonce_at: rest.len(),
            difficulty,
            sha_ni: if tail_len == 64 {
                ShaNi::detect()
            } else {
                None
            },
            tail_words,
        }
    }

    /// The same template without the SHA-NI path (to test and measure the portable one).
    pub fn portable(mut self) -> Self {
        self.sha_ni = None;
        self
    }

    /// Whether the search uses the two-lane SHA-NI path.
    pub fn uses_sha_ni(&self) -> bool {
        self.sha_ni.is_some()
    }

    /// The one-block tail with `nonce`, as big-endian words.
    #[inline]
    fn tail_words_with(&self, nonce: u64) -> [u32; 16] {
        let mut bytes = [0u8; 64];
        bytes.copy_from_slice(&self.tail[..64]);
        bytes[self.nonce_at..self.nonce_at + 8].copy_from_slice(&nonce.to_le_bytes());
        let mut words = self.tail_words;
        for i in self.nonce_at / 4..=(self.nonce_at + 7) / 4 {
            words[i] = u32::from_be_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ]);
        }
        words
    }

    /// The difficulty searched for.
    pub fn difficulty(&self) -> Difficulty {
        self.difficulty
    }

    /// The double SHA-256 of the preimage with `nonce`, as the eight state words of the
    /// second hash (the digest is these words big-endian).
    #[inline]
    fn hash_words(&self, tail: &mut [u8; 128], nonce: u64) -> [u32; 8] {
        tail[self.nonce_at..self.nonce_at + 8].copy_from_slice(&nonce.to_le_bytes());
        let mut inner = self.midstate;
        let (blocks, _) = tail[..self.tail_len].as_chunks::<64>();
        compress256(&mut inner, blocks);
        let mut second = SECOND_BLOCK;
        for (chunk, word) in second.chunks_exact_mut(4).zip(inner) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        let mut outer = IV;
        compress256(&mut outer, core::slice::from_ref(&second));
        outer
    }

    /// The block hash the preimage with `nonce` has.
    pub fn hash(&self, nonce: u64) -> [u8; 32] {
        let mut tail = self.tail;
        let words = self.hash_words(&mut tail, nonce);
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// Scans `nonces` in order on this thread; returns the first that meets the
    /// difficulty, and the number of hashes computed.
    pub fn scan(&self, nonces: Range<u64>) -> (Option<u64>, u64) {
        let start = nonces.start;
        let len = nonces.end.saturating_sub(start);
        let mut nonce = start;
        let mut tail = self.tail;
        if let Some(sha_ni) = self.sha_ni {
            let bits = u32::from(self.difficulty.bits());
            // The first digest word decides for targets up to 32 bits; above, only a zero
            // first word can meet the target, and the portable path checks the rest.
            let may_meet = |word: u32| word.leading_zeros() >= bits.min(32);
            while nonces.end - nonce >= 2 {
                let firsts = sha_ni.double_hash_x2(
                    &self.midstate,
                    &self.tail_words_with(nonce),
                    &self.tail_words_with(nonce + 1),
                );
                for (k, first) in (0..2).zip(firsts) {
                    if may_meet(first)
                        && self
                            .difficulty
                            .is_met_by_words(&self.hash_words(&mut tail, nonce + k))
                    {
                        return (Some(nonce + k), nonce + k - start + 1);
                    }
                }
                nonce += 2;
            }
        }
        while nonce < nonces.end {
            if self
                .difficulty
                .is_met_by_words(&self.hash_words(&mut tail, nonce))
            {
                return (Some(nonce), nonce - start + 1);
            }
            nonce += 1;
        }
        (None, len)
    }
}

/// How a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOutcome {
    /// The smallest nonce in the range that meets the difficulty.
    Found {
        /// The nonce.
        nonce: u64,
        /// Hashes computed over all threads.
        hashes: u64,
    },
    /// No nonce in the range meets the difficulty.
    Exhausted {
        /// Hashes computed over all threads.
        hashes: u64,
    },
    /// The abort signal was raised (a peer's proof arrived) before the search ended.
    Aborted {
        /// Hashes computed over all threads.
        hashes: u64,
    },
}

impl SearchOutcome {
    /// Hashes computed, however the search ended.
    pub fn hashes(&self) -> u64 {
        match *self {
            Self::Found { hashes, .. } | Self::Exhausted { hashes } | Self::Aborted { hashes } => {
                hashes
            }
        }
    }
}

/// Nonces a thread claims at a time: small enough that an easy target is not overshot by
/// much, large enough that claiming costs nothing, and at most about 1.5 ms of work so an
/// abort is seen quickly.
fn chunk_len(difficulty: Difficulty, threads: usize) -> u64 {
    let expected = 1u64 << difficulty.bits().min(40);
    (expected / (4 * threads as u64)).clamp(256, 1 << 14)
}

/// Searches `nonces` on `threads` threads for the smallest nonce meeting the difficulty.
///
/// The result does not depend on the number of threads or their timing: threads claim
/// chunks of nonces in increasing order and stop claiming past the best nonce found, so
/// every nonce below it is checked. `abort` is polled between chunks; once it is raised
/// the search returns [`SearchOutcome::Aborted`], even if a nonce was found meanwhile
/// (Algorithm 1: a peer's proof wins).
pub fn search(
    template: &NonceTemplate,
    nonces: Range<u64>,
    threads: NonZeroUsize,
    abort: &AtomicBool,
) -> SearchOutcome {
    let threads = threads.get();
    let chunk = chunk_len(template.difficulty, threads);
    // Keep the claim counter far from wrapping: each thread overshoots the end at most once.
    let end = nonces.end.min(u64::MAX - (threads as u64 + 1) * chunk);
    let next = AtomicU64::new(nonces.start);
    let best = AtomicU64::new(u64::MAX);
    let hashes = AtomicU64::new(0);

    let worker = || {
        let mut done = 0u64;
        loop {
            if abort.load(Ordering::Relaxed) {
                break;
            }
            let start = next.fetch_add(chunk, Ordering::Relaxed);
            if start >= end || start > best.load(Ordering::Relaxed) {
                break;
            }
            let stop = start.saturating_add(chunk).min(end);
            let (found, scanned) = template.scan(start..stop);
            done += scanned;
            if let Some(nonce) = found {
                best.fetch_min(nonce, Ordering::Relaxed);
            }
        }
        hashes.fetch_add(done, Ordering::Relaxed);
    };
    if threads == 1 {
        worker();
    } else {
        std::thread::scope(|scope| {
            for _ in 1..threads {
                scope.spawn(worker);
            }
            worker();
        });
    }

    let hashes = hashes.load(Ordering::Relaxed);
    if abort.load(Ordering::Relaxed) {
        return SearchOutcome::Aborted { hashes };
    }
    match best.load(Ordering::Relaxed) {
        u64::MAX => SearchOutcome::Exhausted { hashes },
        nonce => SearchOutcome::Found { nonce, hashes },
    }
}

/// The baseline: a plain double SHA-256 of the whole preimage per nonce, through the
/// `Digest` API, no midstate. Returns the first nonce meeting the difficulty, and the
/// hashes computed. Used by benchmarks to show what the midstate search gains.
pub fn naive_scan(prefix: &[u8], difficulty: Difficulty, nonces: Range<u64>) -> (Option<u64>, u64) {
    let mut preimage = prefix.to_vec();
    preimage.extend_from_slice(&[0; 8]);
    let at = prefix.len();
    let start = nonces.start;
    let len = nonces.end.saturating_sub(start);
    for nonce in nonces {
        preimage[at..].copy_from_slice(&nonce.to_le_bytes());
        let digest: [u8; 32] = Sha256::digest(Sha256::digest(&preimage)).into();
        if difficulty.is_met_by(&vkm_block::BlockHash(digest)) {
            return (Some(nonce), nonce - start + 1);
        }
    }
    (None, len)
}
