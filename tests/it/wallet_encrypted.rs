//! Password-encrypted hotkeys made by the real `bittensor-wallet` package
//! (tests/wallets/generate.py): the `$NACL` file opens to the same key as its plaintext
//! twin and signs commitments that verify under the same public key; a wrong or missing
//! password and the formats nexis does not read fail with errors that say what to do; the
//! password never shows in output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nexis::chain::ReadCredentials;
use nexis::chain::wallet::{Password, PasswordSource, WalletConfig, WalletError};
use schnorrkel::{PublicKey, Signature, signing_context};

use crate::support::repo;

fn wallets() -> PathBuf {
    repo().join("tests/wallets")
}

/// The address and password the generator recorded.
fn expected() -> (String, String) {
    let text = std::fs::read_to_string(wallets().join("expected.json")).expect("expected.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    (v["ss58"].as_str().expect("ss58").into(), v["password"].as_str().expect("password").into())
}

fn config(hotkey: &str) -> WalletConfig {
    WalletConfig { path: wallets(), name: "fixture".into(), hotkey: hotkey.into() }
}

fn given(password: &str) -> PasswordSource {
    PasswordSource::Given(Password::new(password))
}

fn verifies(public: [u8; 32], message: &[u8], signature: [u8; 64]) -> bool {
    let public = PublicKey::from_bytes(&public).expect("public key");
    let sig = Signature::from_bytes(&signature).expect("signature");
    public.verify(signing_context(b"substrate").bytes(message), &sig).is_ok()
}

#[test]
fn a_nacl_hotkey_opens_to_its_plaintext_twin_and_signs_the_same_commitment() {
    let (ss58, password) = expected();
    let plain = config("plain").load_hotkey_with(&given("unused")).expect("plaintext twin");
    let nacl = config("nacl").load_hotkey_with(&given(&password)).expect("$NACL hotkey");
    assert_eq!(nacl.ss58(), ss58);
    assert_eq!(nacl.public(), plain.public());
    // The bytes a miner commits (protocol §4), signed by each: either signature verifies
    // under the other's public key.
    let payload =
        ReadCredentials::new("0123456789abcdef0123456789abcdef", &"a".repeat(32), &"b".repeat(64)).expect("creds");
    let message = payload.payload().into_bytes();
    assert!(verifies(plain.public(), &message, nacl.sign(&message)));
    assert!(verifies(nacl.public(), &message, plain.sign(&message)));
    assert!(!verifies(nacl.public(), b"other bytes", nacl.sign(&message)));
}

#[test]
fn wrong_password_and_unreadable_formats_fail_clearly() {
    let err = config("nacl").load_hotkey_with(&given("not the password")).expect_err("wrong password");
    assert!(matches!(err, WalletError::WrongPassword { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("wrong password") && text.contains("nacl"), "{text}");
    assert!(!text.contains("not the password"), "the password is never shown: {text}");

    // btwallet's Ansible Vault format (written by the package) and the Fernet format.
    let err = config("ansible").load_hotkey_with(&given("x")).expect_err("ansible");
    assert!(matches!(err, WalletError::LegacyEncryption { format: "Ansible Vault", .. }), "{err}");
    assert!(err.to_string().contains("re-encrypt it with btcli"), "{err}");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("w/hotkeys");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("fernet"), "gAAAAABl0aBcDeFgHiJkLmNoPqRsTuVwXyZ").expect("write");
    let fernet = WalletConfig { path: tmp.path().into(), name: "w".into(), hotkey: "fernet".into() };
    let err = fernet.load_hotkey_with(&given("x")).expect_err("fernet");
    assert!(matches!(err, WalletError::LegacyEncryption { format: "Fernet", .. }), "{err}");
    assert!(err.to_string().contains("re-encrypt it with btcli"), "{err}");

    // A truncated $NACL file is refused before any key derivation.
    std::fs::write(dir.join("short"), b"$NACL\x01\x02\x03").expect("write");
    let short = WalletConfig { hotkey: "short".into(), ..fernet };
    let err = short.load_hotkey_with(&given("x")).expect_err("short");
    assert!(matches!(err, WalletError::BadKey { .. }) && err.to_string().contains("too short"), "{err}");
}

/// Runs `nexis` on the embedded chain with the fixture wallet and `envs`.
fn nexis(dir: &Path, hotkey: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
    cmd.args(args).current_dir(dir).stdin(std::process::Stdio::null());
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if ["NEXIS_", "BT_", "R2_"].iter().any(|p| k.starts_with(p)) {
            cmd.env_remove(&key);
        }
    }
    cmd.env("BT_NETWORK", "embedded")
        .env("NEXIS_NETUID", "7")
        .env("NEXIS_EMBEDDED_CHAIN_DIR", dir.join("chain"))
        .env("BT_WALLET_PATH", wallets())
        .env("BT_WALLET_NAME", "fixture")
        .env("BT_WALLET_HOTKEY", hotkey);
    cmd.envs(envs.iter().copied());
    cmd.output().expect("run nexis")
}

fn all(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn the_cli_takes_the_password_from_the_environment_or_a_file_and_never_prints_it() {
    let (ss58, password) = expected();
    let tmp = tempfile::tempdir().expect("tempdir");
    let creds = [
        ("R2_ACCOUNT_ID", "0123456789abcdef0123456789abcdef"),
        ("R2_READ_ACCESS_KEY", "AAAAAAAAAAAAAAAAbbbbbbbbbbbbbbbb"),
        ("R2_READ_SECRET_KEY", "ccccccccccccccccccccccccccccccccDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"),
    ];
    let register = nexis(tmp.path(), "nacl", &["chain", "register"], &[("NEXIS_WALLET_PASSWORD", &password)]);
    assert_eq!(register.status.code(), Some(0), "{}", all(&register));
    assert!(all(&register).contains(&ss58), "{}", all(&register));

    let file = tmp.path().join("password.txt");
    std::fs::write(&file, format!("{password}\n")).expect("password file");
    let file = file.display().to_string();
    let mut envs = creds.to_vec();
    envs.push(("NEXIS_WALLET_PASSWORD_FILE", &file));
    let commit = nexis(tmp.path(), "nacl", &["commit-credentials"], &envs);
    let out = all(&commit);
    assert_eq!(commit.status.code(), Some(0), "{out}");
    assert!(out.contains(&format!("signer: {ss58}")), "{out}");
    assert!(!out.contains(&password), "the password is never printed: {out}");
    let plain = nexis(tmp.path(), "plain", &["commit-credentials"], &creds);
    assert!(all(&plain).contains(&format!("signer: {ss58}")), "the plaintext twin is the same signer");

    let status = nexis(tmp.path(), "plain", &["chain", "status", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
    assert_eq!(v["hotkey"], ss58.as_str(), "{v}");
    assert!(v["commitment"]["credentials_sha256"].is_string(), "the $NACL hotkey's commitment is on chain: {v}");

    let mut envs = creds.to_vec();
    envs.push(("NEXIS_WALLET_PASSWORD", "guess-123"));
    let wrong = nexis(tmp.path(), "nacl", &["commit-credentials"], &envs);
    assert_eq!(wrong.status.code(), Some(2));
    let out = all(&wrong);
    assert!(out.contains("wrong password") && out.contains("NEXIS_WALLET_PASSWORD"), "{out}");
    assert!(!out.contains("guess-123"), "{out}");

    let none = nexis(tmp.path(), "nacl", &["commit-credentials"], &creds);
    assert_eq!(none.status.code(), Some(2));
    let out = all(&none);
    assert!(out.contains("NEXIS_WALLET_PASSWORD_FILE") && out.contains("$NACL"), "{out}");
}
