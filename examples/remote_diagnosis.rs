//! Chen et al. 4.5, scenario 2 (remote fault diagnosis): a vehicle and its manufacturer
//! negotiate a master key through the chain (dynamic channel: the share sits in a
//! locking script the chain checks with OP_EXPONENT), then the vehicle sends its fault
//! codes and the manufacturer its diagnosis under the session key of the latest block.
//! A message altered on the way, or keyed by a block the receiver's chain does not
//! hold, is refused.
//!
//! Run: `cargo run --release --example remote_diagnosis`

mod common;

use vkm::negotiate::Channel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const VEHICLE: usize = 0;
    const MAKER: usize = 1;
    let (_dir, mut all) = common::negotiate(
        "remote_diagnosis",
        &["vehicle", "manufacturer"],
        Channel::DynamicScript,
    )?;
    let pair = common::pair(&all, VEHICLE, MAKER)?;
    let mut vehicle = common::keys(&all, &pair, VEHICLE)?;
    let mut maker = common::keys(&all, &pair, MAKER)?;

    let codes = vehicle.seal(b"DTC P0301 (cylinder 1 misfire), P0171 (lean)", b"diag")?;
    println!(
        "vehicle -> manufacturer: fault codes keyed by block {} (session key {})",
        codes.height,
        common::fingerprint(&vehicle)
    );
    // On the way, a relay flips a bit: the tag does not verify.
    let mut altered = codes.clone();
    if let Some(byte) = altered.ciphertext.first_mut() {
        *byte ^= 0x01;
    }
    match maker.open(&altered, b"diag") {
        Err(e) => println!("an altered copy: refused ({e})"),
        Ok(_) => return Err("an altered message was accepted".into()),
    }
    println!(
        "manufacturer reads: {}",
        String::from_utf8_lossy(&maker.open(&codes, b"diag")?)
    );

    // Two blocks later, the manufacturer answers under the newest key.
    common::next_block(&mut all, &mut [&mut vehicle, &mut maker])?;
    let late_codes = vehicle.seal(b"DTC P0301 again after restart", b"diag")?;
    common::next_block(&mut all, &mut [&mut vehicle, &mut maker])?;
    let diagnosis = maker.seal(
        b"diagnosis: replace ignition coil 1; safe to drive",
        b"diag",
    )?;
    println!(
        "manufacturer -> vehicle: diagnosis keyed by block {} (session key {})",
        diagnosis.height,
        common::fingerprint(&maker)
    );
    println!(
        "vehicle reads: {}",
        String::from_utf8_lossy(&vehicle.open(&diagnosis, b"diag")?)
    );
    // A message keyed one block back is still accepted (blocks take time to spread).
    println!(
        "manufacturer reads a message keyed one block back (block {}): {}",
        late_codes.height,
        String::from_utf8_lossy(&maker.open(&late_codes, b"diag")?)
    );
    Ok(())
}
