//! `vkm cert`'s contract: root, issue, show and verify, on vkm's certificates and on the
//! EU trust list's.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use common::{json, printed, vkm};

const TLM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../its/tests/data/E7A4B2B045E7ACF9.oer"
);

fn s(path: &std::path::Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_root_an_authority_and_a_ticket_chain_and_show_their_fields() {
    let dir = std::env::temp_dir().join(format!("vkm-cert-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for name in ["root", "cm", "car", "rogue"] {
        let out = vkm(&["keygen", "--out", s(&dir), "--name", name]);
        assert!(out.status.success(), "{out:?}");
    }
    let p = |name: &str| dir.join(name);
    let root = json(&vkm(&[
        "cert",
        "root",
        "--key",
        s(&p("root.signing.pem")),
        "--name",
        "vkm root",
        "--out",
        s(&p("root.oer")),
        "--json",
    ]));
    assert_eq!(root["issuer"], "self");
    assert_eq!(root["id"], "vkm root");
    let cm = json(&vkm(&[
        "cert",
        "issue",
        "--issuer",
        s(&p("root.oer")),
        "--issuer-key",
        s(&p("root.signing.pem")),
        "--subject-key",
        s(&p("cm.signing.pem")),
        "--name",
        "cm 1",
        "--authority",
        "--out",
        s(&p("cm.oer")),
        "--json",
    ]));
    assert_eq!(cm["issuer"], root["hashed_id8"]);
    let ticket = json(&vkm(&[
        "cert",
        "issue",
        "--issuer",
        s(&p("cm.oer")),
        "--issuer-key",
        s(&p("cm.signing.pem")),
        "--subject-key",
        s(&p("car.signing.pem")),
        "--encryption-key",
        s(&p("car.encryption.pem")),
        "--days",
        "7",
        "--out",
        s(&p("car.oer")),
        "--json",
    ]));
    let shown = json(&vkm(&["cert", "show", s(&p("car.oer")), "--json"]));
    for field in [
        "version",
        "type",
        "issuer",
        "id",
        "validity",
        "verification_key",
        "encryption_key",
        "app_permissions",
        "signature",
        "hashed_id8",
    ] {
        assert!(!shown[field].is_null(), "missing {field}: {shown}");
        assert_eq!(shown[field], ticket[field], "{field}");
    }
    assert_eq!(shown["version"], 3);
    assert_eq!(shown["type"], "explicit");
    assert_eq!(shown["issuer"], cm["hashed_id8"]);
    assert_eq!(shown["id"], "none");
    assert_eq!(shown["validity"]["duration"], 7 * 86_400);
    assert_eq!(shown["verification_key"]["curve"], "nistp256");
    assert_eq!(shown["encryption_key"]["curve"], "nistp256");
    assert_eq!(shown["signature"]["algorithm"], "ecdsa-nistp256");
    assert_eq!(shown["app_permissions"].as_array().unwrap().len(), 1);

    let chain = |file: &str, issuers: &[&str]| {
        let mut args = vec!["cert", "verify", file, "--json"];
        for i in issuers {
            args.extend(["--issuer", i]);
        }
        vkm(&args)
    };
    let (car, cm_path, root_path) = (p("car.oer"), p("cm.oer"), p("root.oer"));
    let ok = chain(s(&car), &[s(&cm_path), s(&root_path)]);
    assert!(ok.status.success());
    assert_eq!(json(&ok)["valid"], true);
    let one_link = chain(s(&car), &[s(&cm_path)]);
    assert!(one_link.status.success());

    // A forged ticket: the rogue's key issues under the CM's name.
    let forged_out = p("forged.oer");
    let forged = vkm(&[
        "cert",
        "issue",
        "--issuer",
        s(&cm_path),
        "--issuer-key",
        s(&p("rogue.signing.pem")),
        "--subject-key",
        s(&p("car.signing.pem")),
        "--out",
        s(&forged_out),
    ]);
    assert!(
        !forged.status.success(),
        "the CLI refuses a key that is not the issuer's"
    );
    let mut bytes = std::fs::read(&car).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&forged_out, &bytes).unwrap();
    let refused = chain(s(&forged_out), &[s(&cm_path), s(&root_path)]);
    assert_eq!(refused.status.code(), Some(1));
    let refused = printed(&refused);
    assert_eq!(refused["valid"], false);
    assert_eq!(refused["code"], "signature");
    assert!(refused["reason"].as_str().unwrap().contains("signature"));

    // Expired, and a permission it lacks.
    let later = vkm(&[
        "cert",
        "verify",
        s(&car),
        "--issuer",
        s(&cm_path),
        "--issuer",
        s(&root_path),
        "--at",
        "4000000000",
        "--json",
    ]);
    assert_eq!(printed(&later)["code"], "expired");
    let cam = vkm(&[
        "cert",
        "verify",
        s(&car),
        "--issuer",
        s(&cm_path),
        "--issuer",
        s(&root_path),
        "--psid",
        "36",
        "--json",
    ]);
    assert_eq!(printed(&cam)["code"], "permission");

    // Bytes that are no certificate: an error naming the file, no panic.
    std::fs::write(p("junk.oer"), [0x80u8, 0x03, 0x00, 0x81]).unwrap();
    let junk = vkm(&["cert", "show", s(&p("junk.oer")), "--json"]);
    assert!(!junk.status.success());
    let stderr = String::from_utf8_lossy(&junk.stderr);
    assert!(
        stderr.contains("junk.oer") && !stderr.contains("panicked"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_eu_tlm_certificate_shows_and_verifies() {
    let shown = json(&vkm(&["cert", "show", TLM, "--json"]));
    assert_eq!(shown["id"], "EU-TLM_L2");
    assert_eq!(shown["issuer"], "self");
    assert_eq!(shown["hashed_id8"], "E7A4B2B045E7ACF9");
    assert_eq!(shown["verification_key"]["curve"], "brainpoolp384r1");
    assert_eq!(shown["signature"]["algorithm"], "ecdsa-brainpoolp384r1");
    assert_eq!(shown["app_permissions"], serde_json::json!([624]));
    // Valid from 2023-08-22 for four years: check it inside that window.
    let verified = vkm(&["cert", "verify", TLM, "--at", "1750000000", "--json"]);
    assert!(verified.status.success(), "{verified:?}");
    assert_eq!(json(&verified)["valid"], true);
}
