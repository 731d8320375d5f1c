//! `vkm ecies encrypt|decrypt`: the IEEE 1609.2 backend on hex and JSON, for
//! interoperability checks against other implementations.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::pkcs8::DecodePrivateKey;
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vkm_transfer::seal::ieee1609::{
    KEY_BYTES, NONCE_BYTES, SealedMessage, TAG_BYTES, WrappedKey, open_message, parse_point,
    seal_with,
};
use zeroize::Zeroizing;

use crate::{CliError, print_json};

/// `vkm ecies` subcommands.
#[derive(Debug, Subcommand)]
pub enum EciesCommand {
    /// Seal bytes to a P-256 public key (IEEE 1609.2 ECIES, AES-128-CCM).
    Encrypt(EncryptArgs),
    /// Open what `encrypt` printed, with the recipient's PKCS#8 PEM secret key.
    Decrypt(DecryptArgs),
}

/// Arguments of `vkm ecies encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The recipient's P-256 public key, SEC1 hex (compressed or uncompressed).
    #[arg(long)]
    recipient_public: String,
    /// The plaintext, hex.
    #[arg(long)]
    plaintext: String,
    /// P1, hex (default: SHA-256 of the empty string).
    #[arg(long)]
    p1: Option<String>,
    /// Print one JSON object (the fields `decrypt` reads).
    #[arg(long)]
    json: bool,
}

/// Arguments of `vkm ecies decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The recipient's P-256 secret key, PKCS#8 PEM.
    #[arg(long)]
    recipient_secret_file: PathBuf,
    /// A JSON file as printed by `vkm ecies encrypt --json`.
    #[arg(long)]
    input: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn hex_arg(name: &str, text: &str) -> Result<Vec<u8>, CliError> {
    hex::decode(text.trim()).map_err(|_| CliError::Invalid(format!("{name} is not hex")))
}

fn fixed<const N: usize>(name: &str, bytes: Vec<u8>) -> Result<[u8; N], CliError> {
    bytes
        .try_into()
        .map_err(|_| CliError::Invalid(format!("{name} must be {N} bytes")))
}

/// Runs `vkm ecies ...`.
pub fn run(command: &EciesCommand) -> Result<ExitCode, CliError> {
    match command {
        EciesCommand::Encrypt(args) => encrypt(args),
        EciesCommand::Decrypt(args) => decrypt(args),
    }
}

fn encrypt(args: &EncryptArgs) -> Result<ExitCode, CliError> {
    let recipient =
        parse_point(&hex_arg("--recipient-public", &args.recipient_public)?).map_err(|_| {
            CliError::Invalid(
                "--recipient-public is not a P-256 public key (SEC1, compressed or not)".into(),
            )
        })?;
    let plaintext = Zeroizing::new(hex_arg("--plaintext", &args.plaintext)?);
    let p1 = match &args.p1 {
        Some(p1) => hex_arg("--p1", p1)?,
        None => Sha256::digest(b"").to_vec(),
    };
    let mut rng = rand::rng();
    let v = <p256::NonZeroScalar as p256::elliptic_curve::Generate>::generate_from_rng(&mut rng);
    let mut k = Zeroizing::new([0u8; KEY_BYTES]);
    rng.fill_bytes(&mut *k);
    let mut nonce = [0u8; NONCE_BYTES];
    rng.fill_bytes(&mut nonce);
    let sealed = seal_with(&v, &k, &nonce, &recipient, &p1, &plaintext)
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let out = json!({
        "ephemeral_public": hex::encode(sealed.key.ephemeral_public.to_sec1_point(true).as_bytes()),
        "wrapped_key": hex::encode(sealed.key.wrapped_key),
        "tag": hex::encode(sealed.key.tag),
        "nonce": hex::encode(sealed.nonce),
        "ciphertext": hex::encode(&sealed.ciphertext),
        "p1": hex::encode(&p1),
    });
    if args.json {
        print_json(&out);
    } else {
        println!("{}", hex::encode(sealed.to_bytes()));
    }
    Ok(ExitCode::SUCCESS)
}

fn field(input: &Value, name: &str) -> Result<Vec<u8>, CliError> {
    let text = input[name]
        .as_str()
        .ok_or_else(|| CliError::Invalid(format!("input has no string field {name}")))?;
    hex_arg(name, text)
}

fn decrypt(args: &DecryptArgs) -> Result<ExitCode, CliError> {
    let pem = crate::files::read_secret(&args.recipient_secret_file)?;
    let secret = p256::SecretKey::from_pkcs8_pem(&pem).map_err(|_| {
        CliError::Invalid("--recipient-secret-file is not a PKCS#8 PEM P-256 key".into())
    })?;
    let text = crate::files::read_text(&args.input, crate::files::MAX_SMALL_BYTES)?;
    let input: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Invalid(format!("{} is not JSON: {e}", args.input.display())))?;
    let sealed = SealedMessage {
        key: WrappedKey {
            ephemeral_public: parse_point(&field(&input, "ephemeral_public")?)
                .map_err(|e| CliError::Invalid(e.to_string()))?,
            wrapped_key: fixed::<KEY_BYTES>("wrapped_key", field(&input, "wrapped_key")?)?,
            tag: fixed::<TAG_BYTES>("tag", field(&input, "tag")?)?,
        },
        nonce: fixed::<NONCE_BYTES>("nonce", field(&input, "nonce")?)?,
        ciphertext: field(&input, "ciphertext")?,
    };
    let p1 = field(&input, "p1")?;
    let plaintext =
        open_message(&secret, &p1, &sealed).map_err(|e| CliError::Invalid(e.to_string()))?;
    if args.json {
        print_json(&json!({ "plaintext": hex::encode(&*plaintext) }));
    } else {
        println!("{}", hex::encode(&*plaintext));
    }
    Ok(ExitCode::SUCCESS)
}
