//! Size limits of the formats, in one place.
//!
//! Decoders check every length prefix against these before allocating; constructors of
//! bounded types check them too, so an encodable value is always decodable.

/// Largest encoded block, in bytes (8 MiB).
///
/// A saturated collection period of Lei et al. (15,000 vehicles/hour, 120 highways, two
/// flows, 1 s) yields about 1,000 key transfers of a few hundred bytes: well under 1 MiB.
pub const MAX_BLOCK_BYTES: usize = 8 * 1024 * 1024;

/// Most transactions in one block.
pub const MAX_BLOCK_TRANSACTIONS: usize = 65_536;

/// Largest sealed identity-materials ciphertext in a key transfer, in bytes.
///
/// A pseudonym set with certificates, sealed with ECIES, is a few hundred bytes; 4 KiB
/// leaves room for a set of pseudonyms.
pub const MAX_CIPHERTEXT_BYTES: usize = 4096;

/// Largest locking or unlocking script, in bytes (Bitcoin's `MAX_SCRIPT_SIZE`).
pub const MAX_SCRIPT_BYTES: usize = 10_000;

/// Most inputs of a value transaction.
pub const MAX_TX_INPUTS: usize = 4096;

/// Most outputs of a value transaction (a large Diffie-Hellman share spread over
/// 8-digit amounts takes a few hundred).
pub const MAX_TX_OUTPUTS: usize = 4096;

/// Most actions in one registry transaction.
pub const MAX_REGISTRY_ACTIONS: usize = 1024;

/// Largest authority certificate of a central manager in the registry, in bytes (an
/// IEEE 1609.2 certificate of a few hundred bytes).
pub const MAX_AUTHORITY_CERTIFICATE_BYTES: usize = 1024;

/// Longest security-domain name, in bytes of UTF-8.
pub const MAX_DOMAIN_NAME_BYTES: usize = 64;
