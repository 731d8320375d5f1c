//! Session keys that follow the chain: the key changes with every block, a message keyed
//! by a block off the receiver's best chain (or too old) is refused, the previous block's
//! key is accepted for a window, replays and altered messages are refused.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use vkm_block::{BlockHash, BlockHeader};
use vkm_coins::Wallet;
use vkm_negotiate::Group;
use vkm_negotiate::keys::Negotiated;
use vkm_negotiate::session::{MAX_MESSAGE_BYTES, Protected, SessionError, SessionKeys};

/// Alice's and Bob's session keys over one master key, window `window`.
fn pair(window: usize) -> (SessionKeys, SessionKeys) {
    let mut rng = StdRng::seed_from_u64(1);
    let group = Group::P256;
    let (a, share_a) = group.keypair(&mut rng);
    let (b, share_b) = group.keypair(&mut rng);
    let agreed = |secret, share: &[u8]| Negotiated {
        master: group
            .agree(secret, &group.validate_share(share).unwrap())
            .unwrap(),
        txids: Vec::new(),
        confirmed_in: BlockHash::ZERO,
    };
    let alice = Wallet::generate(&mut rng).address();
    let bob = Wallet::generate(&mut rng).address();
    (
        SessionKeys::new(&agreed(&a, &share_b), alice, bob, window),
        SessionKeys::new(&agreed(&b, &share_a), bob, alice, window),
    )
}

/// A chain of `n` headers, each on the one before; `salt` makes a fork.
fn chain(n: usize, salt: u64, from: Option<&BlockHeader>) -> Vec<BlockHeader> {
    let mut headers: Vec<BlockHeader> = Vec::new();
    for i in 0..n {
        let prev = headers
            .last()
            .or(if i == 0 { from } else { None })
            .map_or(BlockHash::ZERO, BlockHeader::block_hash);
        headers.push(BlockHeader {
            prev_block: prev,
            nonce: salt,
            ..BlockHeader::default()
        });
    }
    headers
}

#[test]
fn the_key_follows_the_tip_and_the_previous_block_is_accepted_for_a_window() {
    let (mut alice, mut bob) = pair(1);
    assert_eq!(alice.seal(b"x", b""), Err(SessionError::NoBlock));
    let headers = chain(4, 0, None);
    for (h, header) in headers.iter().enumerate().take(2) {
        alice.follow(h as u64, header).unwrap();
        bob.follow(h as u64, header).unwrap();
    }
    let first_key = alice.current_key().unwrap();
    assert_eq!(Some(first_key.clone()), bob.current_key());
    // Alice seals at block 1; Bob has moved to block 2 already: still accepted.
    let late = alice.seal(b"hello", b"door").unwrap();
    assert_eq!(late.height, 1);
    bob.follow(2, &headers[2]).unwrap();
    assert_ne!(Some(first_key), bob.current_key(), "a new block, a new key");
    assert_eq!(bob.open(&late, b"door").unwrap(), b"hello");
    // The associated data is authenticated.
    let other = alice.seal(b"hello", b"door").unwrap();
    assert_eq!(bob.open(&other, b"boot"), Err(SessionError::Forged));
    // Two blocks on: block 1 falls out of the window.
    let stale = alice.seal(b"stale", b"").unwrap();
    bob.follow(3, &headers[3]).unwrap();
    assert!(matches!(
        bob.open(&stale, b""),
        Err(SessionError::NotOnChain { height: 1, .. })
    ));
    // A message keyed by a block Bob has not reached yet is refused, until he has it.
    let message = bob.seal(b"reply", b"").unwrap();
    assert!(matches!(
        alice.open(&message, b""),
        Err(SessionError::NotOnChain { height: 3, .. })
    ));
    alice.follow(2, &headers[2]).unwrap();
    alice.follow(3, &headers[3]).unwrap();
    assert_eq!(alice.open(&message, b"").unwrap(), b"reply");
    // Its own messages are not opened by the sender.
    assert_eq!(bob.open(&message, b""), Err(SessionError::OwnMessage));
}

#[test]
fn a_block_off_the_best_chain_does_not_key_a_message_and_a_reorganisation_is_followed() {
    let (mut alice, mut bob) = pair(2);
    let main = chain(3, 0, None);
    for (h, header) in main.iter().enumerate() {
        bob.follow(h as u64, header).unwrap();
    }
    // Alice is on a fork from block 1: her block 2 is not on Bob's chain.
    alice.follow(0, &main[0]).unwrap();
    alice.follow(1, &main[1]).unwrap();
    let fork = chain(1, 7, Some(&main[1]));
    alice.follow(2, &fork[0]).unwrap();
    let on_fork = alice.seal(b"fork", b"").unwrap();
    assert!(matches!(
        bob.open(&on_fork, b""),
        Err(SessionError::NotOnChain { height: 2, .. })
    ));
    // A block that does not extend the tip is refused; Alice reorganises to the main
    // chain from the fork point.
    assert_eq!(
        alice.follow(4, &main[2]),
        Err(SessionError::NotExtending { height: 4 })
    );
    alice.follow(2, &main[2]).unwrap();
    assert_eq!(alice.tip(), bob.tip());
    let message = alice.seal(b"main", b"").unwrap();
    assert_eq!(bob.open(&message, b"").unwrap(), b"main");
}

#[test]
fn replays_and_altered_messages_are_refused() {
    let (mut alice, mut bob) = pair(1);
    let header = BlockHeader::default();
    alice.follow(0, &header).unwrap();
    bob.follow(0, &header).unwrap();
    let first = alice.seal(b"one", b"").unwrap();
    let second = alice.seal(b"two", b"").unwrap();
    assert_ne!(first.counter, second.counter);
    assert_eq!(bob.open(&second, b"").unwrap(), b"two");
    assert_eq!(bob.open(&second, b""), Err(SessionError::Replayed(1)));
    // Older than the newest opened: refused as a replay too (messages arrive in order).
    assert_eq!(bob.open(&first, b""), Err(SessionError::Replayed(0)));
    let mut altered = alice.seal(b"three", b"").unwrap();
    altered.ciphertext[0] ^= 1;
    assert_eq!(bob.open(&altered, b""), Err(SessionError::Forged));
    // Claiming another counter changes the nonce and the authenticated data.
    let mut moved = alice.seal(b"four", b"").unwrap();
    moved.counter += 10;
    assert_eq!(bob.open(&moved, b""), Err(SessionError::Forged));
    // Another pair's key does not open it.
    let (mut carol, _) = pair(1);
    carol.follow(0, &header).unwrap();
    let theirs = alice.seal(b"five", b"").unwrap();
    let _ = carol.open(&theirs, b"").unwrap_err();
    assert_eq!(
        alice.seal(&vec![0; MAX_MESSAGE_BYTES + 1], b""),
        Err(SessionError::TooLong(MAX_MESSAGE_BYTES + 1))
    );
}

proptest! {
    #[test]
    fn protected_messages_round_trip(
        height in any::<u64>(),
        block in any::<[u8; 32]>(),
        counter in any::<u64>(),
        side in 0u8..=1,
        ciphertext in proptest::collection::vec(any::<u8>(), 16..300),
    ) {
        let message = Protected { height, block: BlockHash(block), counter, side, ciphertext };
        prop_assert_eq!(Protected::decode(&message.encode()).unwrap(), message);
    }

    #[test]
    fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(message) = Protected::decode(&bytes) {
            prop_assert_eq!(message.encode(), bytes);
        }
    }
}
