//! `vkm keygen`: a member's key pairs as PKCS#8 PEM files and a public JSON entry.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::json;
use vkm_block::EncryptionKey;
use vkm_transfer::keys::{EncryptionScheme, MemberKeys};

use crate::{CliError, files, print_json};

/// Encryption schemes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemeArg {
    /// IEEE 1609.2 ECIES on P-256 (default).
    Ieee1609,
    /// The `ecies` crate on secp256k1.
    Secp256k1,
}

impl From<SchemeArg> for EncryptionScheme {
    fn from(arg: SchemeArg) -> Self {
        match arg {
            SchemeArg::Ieee1609 => Self::Ieee1609P256,
            SchemeArg::Secp256k1 => Self::EciesSecp256k1,
        }
    }
}

/// Arguments of `vkm keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write `NAME.signing.pem`, `NAME.encryption.pem` and `NAME.public.json`.
    #[arg(long)]
    out: PathBuf,
    /// Name of the member (file prefix and `name` field).
    #[arg(long, default_value = "sm")]
    name: String,
    /// Encryption scheme of the encryption key.
    #[arg(long, value_enum, default_value_t = SchemeArg::Ieee1609)]
    scheme: SchemeArg,
    /// Replace existing key files (ciphertexts sealed to the old encryption key become
    /// unreadable).
    #[arg(long)]
    force: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `vkm keygen`.
pub fn run(args: &KeygenArgs) -> Result<ExitCode, CliError> {
    if args.name.is_empty()
        || !args
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(CliError::Invalid(
            "--name must be letters, digits, '-' or '_'".into(),
        ));
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| CliError::Io(format!("cannot create {}: {e}", args.out.display())))?;
    let signing_path = args.out.join(format!("{}.signing.pem", args.name));
    let encryption_path = args.out.join(format!("{}.encryption.pem", args.name));
    let public_path = args.out.join(format!("{}.public.json", args.name));
    // All or nothing: no file is written while another would be refused.
    if !args.force
        && let Some(existing) = [&signing_path, &encryption_path, &public_path]
            .into_iter()
            .find(|p| files::exists(p))
    {
        return Err(CliError::Invalid(format!(
            "{} exists; refusing to overwrite keys (--force replaces them, and what was \
             sealed to the old encryption key can no longer be opened)",
            existing.display()
        )));
    }
    let keys = MemberKeys::generate(args.scheme.into(), &mut rand::rng());
    let invalid = |e: vkm_transfer::keys::KeyFileError| CliError::Invalid(e.to_string());
    let signing_pem = keys.signing_pem().map_err(invalid)?;
    let encryption_pem = keys.encryption_pem().map_err(invalid)?;
    files::write_new(&signing_path, signing_pem.as_bytes(), true, args.force)?;
    files::write_new(
        &encryption_path,
        encryption_pem.as_bytes(),
        true,
        args.force,
    )?;

    // The chain form: the compressed point with its scheme.
    let (encryption_public, scheme) = match keys.encryption_public().to_chain() {
        EncryptionKey::P256(key) => (hex::encode(key.0), "ieee1609-p256"),
        EncryptionKey::Secp256k1(key) => (hex::encode(key.0), "ecies-secp256k1"),
    };
    let entry = json!({
        "name": args.name,
        "signing_public": hex::encode(keys.signing.verifying_key().to_sec1_point(true).as_bytes()),
        "encryption_public": encryption_public,
        "encryption_scheme": scheme,
    });
    files::write_new(
        &public_path,
        format!("{entry:#}\n").as_bytes(),
        false,
        args.force,
    )?;
    if args.json {
        let mut out = entry;
        out["signing_key_file"] = json!(signing_path.display().to_string());
        out["encryption_key_file"] = json!(encryption_path.display().to_string());
        out["public_file"] = json!(public_path.display().to_string());
        print_json(&out);
    } else {
        println!(
            "wrote {}, {} and {}",
            signing_path.display(),
            encryption_path.display(),
            public_path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
