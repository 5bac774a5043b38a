//! Wallet key files written exactly as the Bittensor wallet tool writes them; signatures
//! checked with an independent sr25519 verifier (schnorrkel).

use std::path::Path;

use nexis::chain::Hotkey;
use nexis::chain::wallet::{
    Password, PasswordSource, PublicKey as PublicFile, WalletConfig, WalletError, ss58_decode, ss58_encode,
};
use schnorrkel::{ExpansionMode, MiniSecretKey, PublicKey, Signature, signing_context};

/// The well-known development phrase (`subkey` docs); without a derivation path its sr25519
/// public key is 0x46eb…a26a (SS58 5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV).
const DEV_PHRASE: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
const DEV_SS58: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";
const SEED: [u8; 32] = [42; 32];
/// `//Alice` derived from `DEV_PHRASE`: the substrate development account.
const ALICE_SS58: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

fn write_hotkey(root: &Path, name: &str, hotkey: &str, content: &str) {
    let dir = root.join(name).join("hotkeys");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join(hotkey), content).expect("write keyfile");
}

/// A key file in the Bittensor format for the seed `SEED`.
fn bittensor_keyfile(with_phrase: Option<&str>, with_seed: bool) -> String {
    let pair = MiniSecretKey::from_bytes(&SEED).expect("seed").expand_to_keypair(ExpansionMode::Ed25519);
    let public = pair.public.to_bytes();
    let mut v = serde_json::json!({
        "accountId": format!("0x{}", hex::encode(public)),
        "publicKey": format!("0x{}", hex::encode(public)),
        "privateKey": format!("0x{}", hex::encode(pair.secret.to_ed25519_bytes())),
        "ss58Address": ss58_encode(public),
    });
    if with_seed {
        v["secretSeed"] = format!("0x{}", hex::encode(SEED)).into();
    }
    if let Some(p) = with_phrase {
        v["secretPhrase"] = p.into();
        v["ss58Address"] = DEV_SS58.into();
    }
    v.to_string()
}

fn verify(hotkey: &Hotkey, message: &[u8]) -> bool {
    let public = PublicKey::from_bytes(&hotkey.public()).expect("public key");
    let sig = Signature::from_bytes(&hotkey.sign(message)).expect("signature");
    public.verify(signing_context(b"substrate").bytes(message), &sig).is_ok()
}

#[test]
fn seed_file_loads_and_signs_verifiably() {
    let root = tempfile::tempdir().expect("tempdir");
    write_hotkey(root.path(), "default", "default", &bittensor_keyfile(None, true));
    let hotkey = Hotkey::load(root.path(), "default", "default").expect("load");
    let expected = MiniSecretKey::from_bytes(&SEED).expect("seed").expand_to_keypair(ExpansionMode::Ed25519);
    assert_eq!(hotkey.public(), expected.public.to_bytes());
    assert_eq!(ss58_decode(&hotkey.ss58()).expect("ss58"), hotkey.public());
    assert!(verify(&hotkey, b"nexis:auth:123"));
    let mut sig = hotkey.sign(b"message");
    sig[0] ^= 1;
    let public = PublicKey::from_bytes(&hotkey.public()).expect("public");
    let bad = Signature::from_bytes(&sig).map(|s| public.verify(signing_context(b"substrate").bytes(b"message"), &s));
    assert!(!matches!(bad, Ok(Ok(()))), "a flipped bit must not verify");
}

#[test]
fn phrase_wins_over_seed_and_matches_the_known_address() {
    let root = tempfile::tempdir().expect("tempdir");
    write_hotkey(root.path(), "w", "h", &bittensor_keyfile(Some(DEV_PHRASE), true));
    let hotkey = Hotkey::load(root.path(), "w", "h").expect("load");
    assert_eq!(hotkey.ss58(), DEV_SS58);
    assert!(verify(&hotkey, b"signed by the phrase key"));
}

#[test]
fn phrase_only_file_derives_the_substrate_dev_keys() {
    let root = tempfile::tempdir().expect("tempdir");
    let json = serde_json::json!({ "secretPhrase": DEV_PHRASE });
    write_hotkey(root.path(), "w", "phrase", &json.to_string());
    let hotkey = Hotkey::load(root.path(), "w", "phrase").expect("load");
    assert_eq!(hotkey.ss58(), DEV_SS58);
    // Independent check of phrase -> key: `//Alice` from our key is the well-known Alice.
    let alice = hotkey.keypair().derive([subxt_signer::DeriveJunction::hard("Alice")]);
    assert_eq!(ss58_encode(alice.public_key().0), ALICE_SS58);
}

#[test]
fn address_that_does_not_match_the_key_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let json = serde_json::json!({ "secretSeed": format!("0x{}", hex::encode(SEED)), "ss58Address": ALICE_SS58 });
    write_hotkey(root.path(), "w", "h", &json.to_string());
    let err = Hotkey::load(root.path(), "w", "h").expect_err("mismatch");
    assert!(matches!(err, WalletError::BadKey { .. }) && err.to_string().contains("does not match"), "{err}");
    assert!(!err.to_string().contains(&hex::encode(SEED)), "{err}");
}

#[test]
fn debug_output_never_shows_secrets() {
    let hotkey = Hotkey::from_seed(SEED);
    let shown = format!("{hotkey:?}");
    assert!(shown.contains(&hotkey.ss58()) && shown.contains("redacted"), "{shown}");
    assert!(!shown.contains(&hex::encode(SEED)) && !shown.contains("42, 42"), "{shown}");
}

#[test]
fn clear_errors_for_missing_encrypted_and_broken_files() {
    let root = tempfile::tempdir().expect("tempdir");
    let err = Hotkey::load(root.path(), "nobody", "default").expect_err("missing");
    assert!(matches!(err, WalletError::Missing { .. }) && err.to_string().contains("btcli wallet new_hotkey"), "{err}");

    let password = PasswordSource::Given(Password::new("pw"));
    type Case = (&'static str, fn(&WalletError) -> bool, &'static str);
    let cases: [Case; 3] = [
        ("$NACL\u{1}\u{2}encrypted-bytes", |e| matches!(e, WalletError::BadKey { .. }), "too short"),
        ("$ARGON2id$v=19$m=65536", |e| matches!(e, WalletError::Encrypted { .. }), "unknown format"),
        ("gAAAAABlegacyfernet", |e| matches!(e, WalletError::LegacyEncryption { .. }), "re-encrypt it with btcli"),
    ];
    for (i, (head, kind, says)) in cases.iter().enumerate() {
        let name = format!("enc{i}");
        write_hotkey(root.path(), &name, "default", head);
        let err = Hotkey::load_with(root.path(), &name, "default", &password).expect_err("encrypted");
        assert!(kind(&err) && err.to_string().contains(says), "{err}");
    }

    write_hotkey(root.path(), "json", "default", "{\"secretSeed\": ");
    assert!(matches!(Hotkey::load(root.path(), "json", "default"), Err(WalletError::BadJson { .. })));

    write_hotkey(root.path(), "short", "default", "{\"secretSeed\": \"0x1234\"}");
    let err = Hotkey::load(root.path(), "short", "default").expect_err("short seed");
    assert!(matches!(err, WalletError::BadKey { .. }) && err.to_string().contains("32 bytes"), "{err}");

    write_hotkey(root.path(), "priv", "default", &bittensor_keyfile(None, false));
    let err = Hotkey::load(root.path(), "priv", "default").expect_err("private key only");
    assert!(err.to_string().contains("secretSeed"), "{err}");
    assert!(!err.to_string().contains(&hex::encode(SEED)));
}

#[test]
fn public_only_files_give_the_address() {
    let root = tempfile::tempdir().expect("tempdir");
    let hotkey = Hotkey::from_seed(SEED);
    let config = WalletConfig::from_values(root.path().to_str(), Some("w"), Some("h"), None);
    let pubtxt = config.hotkey_pub_path();
    std::fs::create_dir_all(pubtxt.parent().expect("parent")).expect("mkdir");
    // As the wallet tool writes `hotkeys/{name}pub.txt`: the full public JSON.
    let json = serde_json::json!({
        "accountId": format!("0x{}", hex::encode(hotkey.public())),
        "publicKey": format!("0x{}", hex::encode(hotkey.public())),
        "ss58Address": hotkey.ss58(),
    });
    std::fs::write(&pubtxt, json.to_string()).expect("write");
    let public = PublicFile::load_pub(&pubtxt).expect("pub");
    assert_eq!((public.ss58(), public.public()), (hotkey.ss58(), hotkey.public()));

    let coldkeypub = config.coldkeypub_path();
    for field in ["publicKey", "accountId"] {
        let json = serde_json::json!({ field: format!("0x{}", hex::encode(hotkey.public())) });
        std::fs::write(&coldkeypub, json.to_string()).expect("write");
        assert_eq!(PublicFile::load_pub(&coldkeypub).expect("pub").ss58(), hotkey.ss58(), "{field}");
    }
    std::fs::write(&coldkeypub, "{\"ss58Address\": \"5NotAnAddress\"}").expect("write");
    assert!(matches!(PublicFile::load_pub(&coldkeypub), Err(WalletError::BadAddress(_))));
    let json =
        serde_json::json!({ "ss58Address": ALICE_SS58, "publicKey": format!("0x{}", hex::encode(hotkey.public())) });
    std::fs::write(&coldkeypub, json.to_string()).expect("write");
    assert!(PublicFile::load_pub(&coldkeypub).is_err(), "address and key disagree");
    std::fs::write(&coldkeypub, "{}").expect("write");
    assert!(matches!(PublicFile::load_pub(&coldkeypub), Err(WalletError::BadKey { .. })));
    assert!(matches!(PublicFile::load_pub(&root.path().join("absent")), Err(WalletError::Missing { .. })));
}
