//! The dynamic channel's script opcode (Chen et al. 4.3): OP_EXPONENT computes
//! `base^exponent mod modulus` on the stack, so a locking script can check a revealed
//! Diffie-Hellman share. Runs a toy check and one at ffdhe2048's size, and shows what a
//! wrong exponent and a too-large operand get; prints what exponentiations cost.
//!
//! Run: `cargo run --release --example script_exponent`

use vkm::negotiate::Group;
use vkm::script::asm::{parse, push_data};
use vkm::script::exponent::cost;
use vkm::script::{Flags, NoSignatures, verify};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 2^11 mod 23 = 1.
    let stack = verify(
        &parse("2 11")?,
        &parse("23 EXPONENT 1 EQUAL")?,
        Flags::default(),
        &NoSignatures,
    )?;
    println!("2^11 mod 23 == 1: the script leaves {stack:?} (true)");

    // At the size of a real group (ffdhe2048's p and g): the spender reveals x, the lock
    // holds g^x mod p and checks it. (A demonstration: vkm's dynamic channel never
    // reveals a secret exponent; its lock checks the revealed *share* instead, see
    // `vkm_negotiate::wire::dynamic_lock`.)
    let group = Group::named("ffdhe2048")?;
    let (p, g) = group.p_and_g();
    let exponent = [0x5a_u8; 32];
    let power = vkm::script::exponent::modpow(&g, &exponent, &p)?;
    let mut unlocking = Vec::new();
    push_data(&mut unlocking, &exponent);
    let mut locking = Vec::new();
    push_data(&mut locking, &g);
    locking.extend_from_slice(&parse("SWAP")?);
    push_data(&mut locking, &p);
    locking.extend_from_slice(&parse("EXPONENT")?);
    push_data(&mut locking, &power);
    locking.extend_from_slice(&parse("EQUAL")?);
    let stack = verify(&unlocking, &locking, Flags::default(), &NoSignatures)?;
    println!(
        "g^x mod p at 2048 bits checks on the chain: {} (cost {} units of a transaction's 201)",
        stack == vec![vec![1]],
        cost(&p, &exponent)
    );
    println!(
        "a full 2048-bit exponent costs {} units, 3072-bit {}",
        cost(&p, &p),
        cost(&[0xff; 384], &[0xff; 384])
    );

    // A wrong exponent leaves false.
    let mut wrong = Vec::new();
    push_data(&mut wrong, &[0x5b_u8; 32]);
    match verify(&wrong, &locking, Flags::default(), &NoSignatures) {
        Ok(_) => return Err("a wrong exponent passed".into()),
        Err(e) => println!("a wrong exponent: refused ({e})"),
    }
    // An operand over the 512-byte limit is refused before any work.
    let mut huge = Vec::new();
    push_data(&mut huge, &[1u8; 513]);
    match verify(&huge, &locking, Flags::default(), &NoSignatures) {
        Err(e) => println!("a 513-byte operand: refused ({e})"),
        Ok(_) => return Err("an oversized operand was accepted".into()),
    }
    Ok(())
}
