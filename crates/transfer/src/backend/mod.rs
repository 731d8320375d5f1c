//! The P-256 arithmetic behind sealing, signing and the key negotiation's P-256 group,
//! from a backend chosen at build time:
//!
//! - `aws_lc` (feature `aws-lc`, on by default): AWS-LC through `aws-lc-rs`, whose
//!   constant-time P-256 is three to four times faster here than `p256`'s; it compiles C
//!   code with the machine's C compiler.
//! - [`rust_crypto`] (always compiled): RustCrypto's `p256`, pure Rust, for on-board units,
//!   WebAssembly and machines without a C compiler (`--no-default-features`).
//!
//! Both modules have the same API: [`EcdhSecret`] (a secret scalar prepared for ECDH),
//! [`EcdhPeer`] (a received point, validated: on the curve, not the identity), [`Signer`]
//! (ECDSA P-256 over a 32-byte digest) and [`verify_digest`]. The names at this module's
//! root are the selected backend's ([`NAME`] says which). `rust_crypto` stays available
//! with AWS-LC on, so that a test or a benchmark compares the two in one process; results
//! are equal (ECDH outputs and verification verdicts), only signatures' bytes differ
//! (AWS-LC draws its nonces at random, `p256` derives them by RFC 6979).

#[cfg(feature = "aws-lc")]
pub mod aws_lc;
pub mod rust_crypto;

#[cfg(feature = "aws-lc")]
pub use aws_lc::{EcdhPeer, EcdhSecret, NAME, Signer, verify_digest};
#[cfg(not(feature = "aws-lc"))]
pub use rust_crypto::{EcdhPeer, EcdhSecret, NAME, Signer, verify_digest};
