//! `vkm cert`: IEEE 1609.2 certificates: make a root, issue under it, show any COER
//! certificate (including the EU trust list's), verify a chain.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use serde_json::{Value, json};
use vkm_its::{
    Certificate, CertificateRequest, ChainPolicy, Issuer, PSID_VKM_KEY_TRANSFER, Psid, PublicKey,
    Time32, Validity,
};

use crate::{CliError, files, print_json};

/// `vkm cert` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Make a self-signed root certificate (it may issue for every application).
    Root(RootArgs),
    /// Issue a certificate under an issuer: a central manager's authority certificate
    /// (`--authority`) or a vehicle's pseudonym certificate (authorization ticket).
    Issue(IssueArgs),
    /// Decode a COER IEEE 1609.2 certificate and print its fields.
    Show(ShowArgs),
    /// Verify a certificate against its issuer (and the issuer's issuers up to a root).
    Verify(VerifyArgs),
}

/// Arguments of `vkm cert root`.
#[derive(Debug, Args)]
pub struct RootArgs {
    /// The root's P-256 signing key (PKCS#8 PEM, as `vkm keygen` writes it).
    #[arg(long)]
    key: PathBuf,
    /// The root's name.
    #[arg(long)]
    name: String,
    /// Where to write the certificate (COER).
    #[arg(long)]
    out: PathBuf,
    /// Validity in days, from now (or `--start`).
    #[arg(long, default_value_t = 3650)]
    days: u64,
    /// Start of validity, Unix seconds (default: now).
    #[arg(long)]
    start: Option<u64>,
    /// Replace `--out` if it exists.
    #[arg(long)]
    force: bool,
    /// Print the certificate as `vkm cert show --json` does.
    #[arg(long)]
    json: bool,
}

/// Arguments of `vkm cert issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The issuer's certificate (COER).
    #[arg(long)]
    issuer: PathBuf,
    /// The issuer's P-256 signing key (PKCS#8 PEM).
    #[arg(long)]
    issuer_key: PathBuf,
    /// The subject's P-256 key: its signing key (PKCS#8 PEM) or public key (SPKI PEM).
    #[arg(long)]
    subject_key: PathBuf,
    /// The subject's P-256 encryption key (PKCS#8 or SPKI PEM), for IEEE 1609.2 ECIES.
    #[arg(long)]
    encryption_key: Option<PathBuf>,
    /// The subject's name; omit it for an authorization ticket (TS 103 097 tickets carry
    /// none).
    #[arg(long)]
    name: Option<String>,
    /// Validity in days from the start; cut to the issuer's validity.
    #[arg(long, default_value_t = 365)]
    days: u64,
    /// Start of validity, Unix seconds (default: now, or the issuer's start if later).
    #[arg(long)]
    start: Option<u64>,
    /// PSIDs the subject may sign for (repeatable; default vkm's key-transfer PSID).
    #[arg(long = "psid", value_parser = parse_psid)]
    psids: Vec<u64>,
    /// The subject is an authority: it may issue end-entity certificates.
    #[arg(long)]
    authority: bool,
    /// Where to write the certificate (COER).
    #[arg(long)]
    out: PathBuf,
    /// Replace `--out` if it exists.
    #[arg(long)]
    force: bool,
    /// Print the certificate as `vkm cert show --json` does.
    #[arg(long)]
    json: bool,
}

/// Arguments of `vkm cert show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The certificate (COER bytes; a file of hex text is read too).
    file: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Arguments of `vkm cert verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The certificate to verify (COER).
    file: PathBuf,
    /// Its issuer's certificate; repeat for the issuer's issuer, up to the root. A
    /// chain that ends in a self-signed root is checked whole (signatures, validity,
    /// permissions, chain length); otherwise the one link. A self-signed certificate
    /// needs no issuer.
    #[arg(long)]
    issuer: Vec<PathBuf>,
    /// The time to check validity at, Unix seconds (default: now).
    #[arg(long)]
    at: Option<u64>,
    /// A PSID the certificate must hold.
    #[arg(long, value_parser = parse_psid)]
    psid: Option<u64>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `vkm cert`.
pub fn run(command: CertCommand) -> Result<ExitCode, CliError> {
    match command {
        CertCommand::Root(args) => root(&args),
        CertCommand::Issue(args) => issue(&args),
        CertCommand::Show(args) => show(&args),
        CertCommand::Verify(args) => verify(&args),
    }
}

fn parse_psid(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("{text:?} is not a PSID (decimal or 0x hex)"))
}

fn days_s(days: u64) -> Result<u64, CliError> {
    match days.checked_mul(86_400) {
        Some(s) if days > 0 && days <= 100 * 366 => Ok(s),
        _ => Err(CliError::Invalid(format!(
            "--days {days}: 1 to 36600 accepted"
        ))),
    }
}

fn root(args: &RootArgs) -> Result<ExitCode, CliError> {
    let key = signing_key(&args.key)?;
    let validity = Validity {
        start: args.start.map_or_else(Time32::now, Time32::from_unix_s),
        duration_s: days_s(args.days)?,
    };
    let cert = Certificate::root(&key, &args.name, validity).map_err(invalid)?;
    files::write_new(&args.out, cert.to_oer(), false, args.force)?;
    report(&cert, args.json, &args.out)
}

fn issue(args: &IssueArgs) -> Result<ExitCode, CliError> {
    let issuer = read_certificate(&args.issuer)?;
    let issuer_key = signing_key(&args.issuer_key)?;
    let subject = verifying_key(&args.subject_key)?;
    let encryption_key = args.encryption_key.as_deref().map(public_key).transpose()?;
    let limit = issuer.validity();
    let start = args
        .start
        .map_or_else(Time32::now, Time32::from_unix_s)
        .max(limit.start);
    let wanted_end = start.unix_s().saturating_add(days_s(args.days)?);
    let end = wanted_end.min(limit.end_unix_s());
    if end <= start.unix_s() {
        return Err(CliError::Invalid(format!(
            "the issuer's validity ended at {}",
            Time32::from_unix_s(limit.end_unix_s()).utc()
        )));
    }
    if end < wanted_end {
        eprintln!(
            "note: validity cut to the issuer's end, {}",
            Time32::from_unix_s(end).utc()
        );
    }
    let psids = if args.psids.is_empty() {
        vec![PSID_VKM_KEY_TRANSFER]
    } else {
        args.psids.iter().map(|p| Psid(*p)).collect()
    };
    let request = CertificateRequest {
        name: args.name.clone(),
        validity: Validity {
            start,
            duration_s: end - start.unix_s(),
        },
        app_permissions: psids,
        issue: args.authority.then_some(1),
        verification_key: subject,
        encryption_key,
    };
    let cert = issuer.issue(&issuer_key, &request).map_err(invalid)?;
    files::write_new(&args.out, cert.to_oer(), false, args.force)?;
    report(&cert, args.json, &args.out)
}

fn report(cert: &Certificate, json: bool, out: &Path) -> Result<ExitCode, CliError> {
    if json {
        let mut value = describe(cert);
        value["file"] = json!(out.display().to_string());
        print_json(&value);
    } else {
        println!(
            "wrote {} ({} bytes, HashedId8 {})",
            out.display(),
            cert.to_oer().len(),
            hashed_id8(cert)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(args: &ShowArgs) -> Result<ExitCode, CliError> {
    let cert = read_certificate(&args.file)?;
    let value = describe(&cert);
    if args.json {
        print_json(&value);
    } else {
        print_text(&value);
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(args: &VerifyArgs) -> Result<ExitCode, CliError> {
    let cert = read_certificate(&args.file)?;
    let mut chain = vec![cert];
    for path in &args.issuer {
        chain.push(read_certificate(path)?);
    }
    let at = args.at.map_or_else(Time32::now, Time32::from_unix_s);
    let result = check(&chain, at, args.psid.map(Psid));
    let (valid, reason, code) = match &result {
        Ok(()) => (true, Value::Null, Value::Null),
        Err((code, reason)) => (false, json!(reason), json!(code)),
    };
    if args.json {
        print_json(&json!({
            "valid": valid,
            "reason": reason,
            "code": code,
            "chain_length": chain.len(),
            "at": at.utc(),
        }));
    } else if let Err((_, reason)) = &result {
        println!("invalid: {reason}");
    } else {
        println!("valid ({} certificate(s), at {})", chain.len(), at.utc());
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Checks `chain` (subject first): whole when it ends in a root, else its one link.
fn check(
    chain: &[Certificate],
    at: Time32,
    psid: Option<Psid>,
) -> Result<(), (&'static str, String)> {
    let ends_in_root = chain
        .last()
        .is_some_and(|c| matches!(c.issuer(), Issuer::SelfSigned(_)));
    if ends_in_root {
        let policy = ChainPolicy {
            at,
            psid,
            revoked: &|_| false,
        };
        return vkm_its::verify_chain(chain, &policy).map_err(|e| (e.reason(), e.to_string()));
    }
    let [subject, issuer] = chain else {
        return Err((
            "no_root",
            "give the certificate's issuer (--issuer), and its issuers up to a self-signed root \
             to check the whole chain"
                .into(),
        ));
    };
    let Issuer::Digest(_, named) = subject.issuer() else {
        return Err(("issuer_mismatch", "the certificate is self-signed".into()));
    };
    let actual = issuer
        .hashed_id8()
        .map_err(|e| ("signature", e.to_string()))?;
    if named != actual {
        return Err((
            "issuer_mismatch",
            format!("the certificate names issuer {named}, --issuer is {actual}"),
        ));
    }
    subject
        .verify_signature(Some(issuer))
        .map_err(|e| ("signature", e.to_string()))?;
    if !subject.validity().contains(at) {
        return Err(("expired", format!("not valid at {}", at.utc())));
    }
    if let Some(psid) = psid
        && !subject.app_permissions().contains(&psid)
    {
        return Err((
            "permission",
            format!("no permission for PSID {:#x}", psid.0),
        ));
    }
    Ok(())
}

/// The fields of `vkm cert show --json`.
fn describe(cert: &Certificate) -> Value {
    let key = |k: Option<PublicKey>| {
        k.map_or(
            Value::Null,
            |k| json!({"curve": k.curve.name(), "point": hex::encode(&k.sec1)}),
        )
    };
    let validity = cert.validity();
    let issuer = match cert.issuer() {
        Issuer::SelfSigned(_) => json!("self"),
        Issuer::Digest(_, id) => json!(id.to_hex()),
    };
    let issuer_hash = match cert.issuer() {
        Issuer::SelfSigned(alg) | Issuer::Digest(alg, _) => alg.name(),
    };
    let issue_permissions = cert.issue_permissions().map(|groups| {
        groups
            .iter()
            .map(|g| {
                json!({
                    "psids": g.psids.as_ref().map(|l| l.iter().map(|p| p.0).collect::<Vec<_>>()),
                    "min_chain_length": g.min_chain_length,
                    "chain_length_range": g.chain_length_range,
                })
            })
            .collect::<Vec<_>>()
    });
    json!({
        "version": cert.version(),
        "type": cert.kind(),
        "issuer": issuer,
        "issuer_hash": issuer_hash,
        "id": cert.id(),
        "validity": {
            "start": validity.start.utc(),
            "start_time32": validity.start.0,
            "duration": validity.duration_s,
            "end": Time32::from_unix_s(validity.end_unix_s()).utc(),
        },
        "verification_key": key(cert.verification_key()),
        "encryption_key": key(cert.encryption_key()),
        "app_permissions": cert.app_permissions().iter().map(|p| p.0).collect::<Vec<_>>(),
        "issue_permissions": issue_permissions,
        "signature": {
            "algorithm": cert.signature_curve().map(|c| format!("ecdsa-{}", c.name())),
        },
        "hashed_id8": hashed_id8(cert),
        "bytes": cert.to_oer().len(),
    })
}

fn print_text(value: &Value) {
    let Value::Object(fields) = value else { return };
    for (name, field) in fields {
        match field {
            Value::String(s) => println!("{name}: {s}"),
            Value::Null => {}
            other => println!("{name}: {other}"),
        }
    }
}

fn hashed_id8(cert: &Certificate) -> String {
    cert.hashed_id8()
        .map(|id| id.to_hex())
        .unwrap_or_else(|e| format!("({e})"))
}

fn invalid(e: impl std::fmt::Display) -> CliError {
    CliError::Invalid(e.to_string())
}

/// A certificate file: COER bytes, or hex text of them.
fn read_certificate(path: &Path) -> Result<Certificate, CliError> {
    // Hex text of the largest certificate, with line breaks.
    let limit = (vkm_its::MAX_CERTIFICATE_BYTES * 3) as u64;
    let bytes = files::read_bounded(path, limit)?;
    let decoded = std::str::from_utf8(&bytes)
        .ok()
        .map(|t| t.split_whitespace().collect::<String>())
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|t| hex::decode(t).ok());
    let bytes = decoded.unwrap_or(bytes);
    Certificate::from_oer(&bytes).map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))
}

fn signing_key(path: &Path) -> Result<SigningKey, CliError> {
    let pem = files::read_secret(path)?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|_| {
        CliError::Invalid(format!(
            "{} is not a P-256 signing key (PKCS#8 PEM)",
            path.display()
        ))
    })
}

/// A P-256 public key from a PKCS#8 private key or SPKI public key PEM file.
fn public_key(path: &Path) -> Result<p256::PublicKey, CliError> {
    let text = files::read_text(path, files::MAX_SECRET_BYTES)?;
    if text.contains("PRIVATE KEY") {
        let secret = files::read_secret(path)?;
        return p256::SecretKey::from_pkcs8_pem(&secret)
            .map(|k| k.public_key())
            .map_err(|_| {
                CliError::Invalid(format!(
                    "{} is not a P-256 key (PKCS#8 PEM)",
                    path.display()
                ))
            });
    }
    p256::PublicKey::from_public_key_pem(&text).map_err(|_| {
        CliError::Invalid(format!(
            "{} is not a P-256 key (PKCS#8 or SPKI PEM)",
            path.display()
        ))
    })
}

fn verifying_key(path: &Path) -> Result<p256::ecdsa::VerifyingKey, CliError> {
    public_key(path).map(p256::ecdsa::VerifyingKey::from)
}
