//! Chen et al.'s three channels side by side: Alice and Bob negotiate a master key over a
//! local chain mined by a real security manager, once per channel (value: the share in
//! output amounts; static: ECIES-sealed beside a payment; dynamic: in a locking script the
//! chain checks with OP_EXPONENT), in ffdhe2048; each ends with key confirmation on the
//! chain. Prints only hashes of keys.
//!
//! Run: `cargo run --release --example negotiate_channels`

mod common;

use vkm::negotiate::Channel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for channel in [
        Channel::Value,
        Channel::StaticScript,
        Channel::DynamicScript,
    ] {
        let (_dir, all) = common::negotiate(
            &format!("channels-{}", channel.name()),
            &["alice", "bob"],
            channel,
        )?;
        let pair = common::pair(&all, 0, 1)?;
        let (alice, bob) = all.sides(&pair);
        let (alice, bob) = (alice.ok_or("alice")?, bob.ok_or("bob")?);
        let hash = |n: &vkm::negotiate::Negotiation| {
            n.master_key()
                .map(|k| vkm::negotiate::keys::hex_digest(k.as_bytes())[..16].to_string())
                .unwrap_or_default()
        };
        println!(
            "  master key SHA-256: alice {} / bob {}; session key of the tip {}",
            hash(alice),
            hash(bob),
            common::fingerprint(&common::keys(&all, &pair, 0)?)
        );
        for txid in alice.txids() {
            println!("  on the chain: {txid}");
        }
    }
    Ok(())
}
