//! The cost of processing one collection period: the time elements of Lei et al. Table
//! III, and Eqs. (2)-(4) for the three structures.

use serde::{Deserialize, Serialize};

/// The three structures of Lei et al. III.B.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Structure {
    /// Fig. 5, Eq. (4): every SM verifies; one block is prepared and mined.
    Blockchain,
    /// Fig. 4, Eq. (3): SM -> CA -> SM.
    SameDomain,
    /// Fig. 3, Eq. (2): SM -> CA -> CA -> SM.
    CrossDomain,
}

impl Structure {
    /// The name used in files and output (`blockchain`, `same-domain`, `cross-domain`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Blockchain => "blockchain",
            Self::SameDomain => "same-domain",
            Self::CrossDomain => "cross-domain",
        }
    }
}

/// Block preparation time `tprep(n) = trand + tfill + tmerkle + theader` as a function of
/// the number of transactions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PrepModel {
    /// `fixed_s + per_transaction_s * n`: what vkm measures (Fisher-Yates, merkle root and
    /// encoding are linear).
    Linear {
        /// Time independent of the transactions (the header).
        fixed_s: f64,
        /// Time per transaction (shuffle, fill, merkle).
        per_transaction_s: f64,
    },
    /// `scale_s * (exp(rate_per_transaction * n) - 1)`: the paper's Fig. 8.
    Exponential {
        /// Scale of the curve.
        scale_s: f64,
        /// Growth per transaction.
        rate_per_transaction: f64,
    },
}

impl PrepModel {
    /// `tprep` for `n` transactions, in seconds.
    pub fn seconds(&self, n: f64) -> f64 {
        match *self {
            Self::Linear {
                fixed_s,
                per_transaction_s,
            } => fixed_s + per_transaction_s * n,
            Self::Exponential {
                scale_s,
                rate_per_transaction,
            } => scale_s * (rate_per_transaction * n).exp_m1(),
        }
    }

    fn parameters(&self) -> [f64; 2] {
        match *self {
            Self::Linear {
                fixed_s,
                per_transaction_s,
            } => [fixed_s, per_transaction_s],
            Self::Exponential {
                scale_s,
                rate_per_transaction,
            } => [scale_s, rate_per_transaction],
        }
    }
}

/// The time elements of Table III, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeElements {
    /// `tE`: ECIES encryption of one transaction's identity materials.
    pub encrypt_s: f64,
    /// `tD`: ECIES decryption.
    pub decrypt_s: f64,
    /// `tS`: ECDSA signing.
    pub sign_s: f64,
    /// `tV`: ECDSA verification.
    pub verify_s: f64,
    /// `tM`: mean mining time of one block.
    pub mining_s: f64,
    /// `tBO`: mean CSMA back-off per message.
    pub backoff_s: f64,
    /// `tP`: propagation per message.
    pub propagation_s: f64,
    /// `tprep`: block preparation.
    pub prep: PrepModel,
}

impl TimeElements {
    /// Whether every element is a non-negative finite number.
    pub fn is_valid(&self) -> bool {
        let scalars = [
            self.encrypt_s,
            self.decrypt_s,
            self.sign_s,
            self.verify_s,
            self.mining_s,
            self.backoff_s,
            self.propagation_s,
        ];
        scalars
            .iter()
            .chain(self.prep.parameters().iter())
            .all(|x| x.is_finite() && *x >= 0.0)
    }
}

/// Prices the processing of one collection period: the seam between the cost model and
/// what uses it (Algorithm 3, the policies, the simulator's `model` mode).
pub trait CostModel {
    /// Seconds to process `transactions` (an expected count, hence `f64`) in `structure`.
    fn processing_s(&self, structure: Structure, transactions: f64) -> f64;
}

impl CostModel for TimeElements {
    fn processing_s(&self, structure: Structure, n: f64) -> f64 {
        let crypto = self.verify_s + self.decrypt_s + self.encrypt_s + self.sign_s;
        let hop = self.backoff_s + self.propagation_s;
        match structure {
            // Eq. (2): tTC = nT (tV + tD + tE + tS) x 2 + (tBO + tP) x 3
            Structure::CrossDomain => n * crypto * 2.0 + hop * 3.0,
            // Eq. (3): tTS = nT (tV + tD + tE + tS) + (tBO + tP) x 2
            Structure::SameDomain => n * crypto + hop * 2.0,
            // Eq. (4): tB = nT tV + (tBO + tP) x 2 + tprep + tM
            Structure::Blockchain => {
                n * self.verify_s + hop * 2.0 + self.prep.seconds(n) + self.mining_s
            }
        }
    }
}
