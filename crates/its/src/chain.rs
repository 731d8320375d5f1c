//! Certificate chain verification: root -> authority -> ... -> end entity, with
//! signatures, validity, permissions, chain length and revocation.

use crate::certificate::{Certificate, CertificateError, HashedId8, Issuer, Psid};
use crate::time::Time32;

/// What a chain must satisfy besides its signatures.
pub struct ChainPolicy<'a> {
    /// The time every certificate must be valid at.
    pub at: Time32,
    /// A PSID the end entity must hold, if any.
    pub psid: Option<Psid>,
    /// Whether a certificate (named by its `HashedId8`) is revoked.
    pub revoked: &'a dyn Fn(&HashedId8) -> bool,
}

impl core::fmt::Debug for ChainPolicy<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChainPolicy")
            .field("at", &self.at)
            .field("psid", &self.psid)
            .finish_non_exhaustive()
    }
}

/// Why a chain is refused; `depth` counts from the end entity (0) to the root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// No certificate given.
    #[error("empty chain")]
    Empty,
    /// The last certificate is not self-signed.
    #[error("the chain does not end in a self-signed root")]
    NoRoot,
    /// A certificate names an issuer other than the next one in the chain.
    #[error("certificate {depth} names issuer {named}, the next certificate is {actual}")]
    IssuerMismatch {
        /// Position in the chain.
        depth: usize,
        /// The issuer the certificate names.
        named: HashedId8,
        /// The next certificate's `HashedId8`.
        actual: HashedId8,
    },
    /// A signature does not verify (or cannot be checked).
    #[error("certificate {depth}: {error}")]
    Signature {
        /// Position in the chain.
        depth: usize,
        /// What failed.
        error: CertificateError,
    },
    /// A certificate is not valid at the policy's time.
    #[error("certificate {depth} is not valid at {at} (valid {start} for {duration_s} s)")]
    Expired {
        /// Position in the chain.
        depth: usize,
        /// The time checked.
        at: String,
        /// Start of validity.
        start: String,
        /// Length of validity.
        duration_s: u64,
    },
    /// A certificate's validity reaches outside its issuer's.
    #[error("certificate {depth} is valid outside its issuer's validity")]
    ValidityOutsideIssuer {
        /// Position in the chain.
        depth: usize,
    },
    /// The end entity lacks the PSID the policy asks for.
    #[error("the end entity has no permission for PSID {0:#x}")]
    MissingPermission(u64),
    /// An issuer may not grant a PSID its subject holds, or may not issue at all.
    #[error("certificate {depth} holds PSID {psid:#x} that its issuer may not grant")]
    PermissionNotGranted {
        /// Position in the chain.
        depth: usize,
        /// The PSID.
        psid: u64,
    },
    /// An issuer has no issuing permissions, or not for a chain of this length.
    #[error("certificate {depth} may not issue a chain {below} certificate(s) long below it")]
    NotAnAuthority {
        /// Position of the issuer in the chain.
        depth: usize,
        /// Certificates below it.
        below: usize,
    },
    /// A certificate is revoked.
    #[error("certificate {depth} ({id}) is revoked")]
    Revoked {
        /// Position in the chain.
        depth: usize,
        /// Its `HashedId8`.
        id: HashedId8,
    },
}

impl ChainError {
    /// A short machine-readable reason (`signature`, `expired`, `permission`,
    /// `revoked`...).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NoRoot => "no_root",
            Self::IssuerMismatch { .. } => "issuer_mismatch",
            Self::Signature { .. } => "signature",
            Self::Expired { .. } => "expired",
            Self::ValidityOutsideIssuer { .. } => "validity_outside_issuer",
            Self::MissingPermission(_) | Self::PermissionNotGranted { .. } => "permission",
            Self::NotAnAuthority { .. } => "not_an_authority",
            Self::Revoked { .. } => "revoked",
        }
    }
}

/// Verifies `chain`, end entity first and the trusted root last: every certificate signed
/// by the next (the root by itself), valid at `policy.at` and inside its issuer's
/// validity, holding only PSIDs its issuer may grant, every issuer an authority for the
/// chain below it, none revoked, and the end entity holding `policy.psid`.
pub fn verify_chain(chain: &[Certificate], policy: &ChainPolicy<'_>) -> Result<(), ChainError> {
    let root = chain.last().ok_or(ChainError::Empty)?;
    if !matches!(root.issuer(), Issuer::SelfSigned(_)) {
        return Err(ChainError::NoRoot);
    }
    for (depth, cert) in chain.iter().enumerate() {
        let signature = |error| ChainError::Signature { depth, error };
        let id = cert.hashed_id8().map_err(signature)?;
        if (policy.revoked)(&id) {
            return Err(ChainError::Revoked { depth, id });
        }
        let validity = cert.validity();
        if !validity.contains(policy.at) {
            return Err(ChainError::Expired {
                depth,
                at: policy.at.utc(),
                start: validity.start.utc(),
                duration_s: validity.duration_s,
            });
        }
        let Some(issuer) = chain.get(depth + 1) else {
            // The root: checked with its own key.
            cert.verify_signature(None).map_err(signature)?;
            continue;
        };
        let actual = issuer.hashed_id8().map_err(signature)?;
        match cert.issuer() {
            Issuer::Digest(_, named) if named == actual => {}
            Issuer::Digest(_, named) => {
                return Err(ChainError::IssuerMismatch {
                    depth,
                    named,
                    actual,
                });
            }
            Issuer::SelfSigned(_) => {
                return Err(ChainError::IssuerMismatch {
                    depth,
                    named: id,
                    actual,
                });
            }
        }
        cert.verify_signature(Some(issuer)).map_err(signature)?;
        if !issuer.validity().covers(&validity) {
            return Err(ChainError::ValidityOutsideIssuer { depth });
        }
        let groups = issuer.issue_permissions().unwrap_or_default();
        let below = depth + 1;
        let group =
            groups
                .iter()
                .find(|g| g.allows_depth(below))
                .ok_or(ChainError::NotAnAuthority {
                    depth: depth + 1,
                    below,
                })?;
        for psid in cert.app_permissions() {
            if !group.grants(psid) {
                return Err(ChainError::PermissionNotGranted {
                    depth,
                    psid: psid.0,
                });
            }
        }
    }
    if let Some(psid) = policy.psid
        && !chain[0].app_permissions().contains(&psid)
    {
        return Err(ChainError::MissingPermission(psid.0));
    }
    Ok(())
}
