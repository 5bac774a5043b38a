//! The chain commands as an operator runs them, against the embedded chain and, for call
//! data, against the real runtime metadata in `tests/chain/`.

use std::process::{Command, Output};

use crate::support::chain_metadata;
use nexis::chain::Hotkey;
use nexis::chain::embedded::{EmbeddedChain, EmbeddedSettings};

const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const ACCESS: &str = "AAAAAAAAAAAAAAAAbbbbbbbbbbbbbbbb";
const SECRET: &str = "ccccccccccccccccccccccccccccccccDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD";
const SEED: [u8; 32] = [5; 32];

struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("wallets/miner/hotkeys");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let key = serde_json::json!({ "secretSeed": format!("0x{}", hex::encode(SEED)) });
        std::fs::write(dir.join("default"), key.to_string()).expect("keyfile");
        Self { tmp }
    }

    fn run(&self, args: &[&str], network: &str) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexis"));
        cmd.args(args).current_dir(self.tmp.path());
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("NEXIS_") || k.starts_with("BT_") || k.starts_with("R2_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("BT_NETWORK", network)
            .env("NEXIS_NETUID", "42")
            .env("NEXIS_EMBEDDED_CHAIN_DIR", self.tmp.path().join("chain"))
            .env("NEXIS_EMBEDDED_BLOCK_MS", "50")
            .env("BT_WALLET_PATH", self.tmp.path().join("wallets"))
            .env("BT_WALLET_NAME", "miner")
            .env("R2_ACCOUNT_ID", ACCOUNT)
            .env("R2_READ_ACCESS_KEY", ACCESS)
            .env("R2_READ_SECRET_KEY", SECRET);
        cmd.output().expect("run nexis")
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no `{prefix}` line in {out}"))
}

#[test]
fn dry_run_prints_signer_and_hand_checkable_call_data() {
    let env = Env::new();
    for spec in ["finney-spec365.scale", "finney-spec393.scale"] {
        let metadata = chain_metadata(spec);
        let out = env.run(&["commit-credentials", "--dry-run", "--metadata", &metadata.to_string_lossy()], "finney");
        let all = text(&out);
        assert_eq!(out.status.code(), Some(0), "{all}");
        assert_eq!(line(&all, "signer: "), Hotkey::from_seed(SEED).ss58());
        // Commitments (pallet 18) . set_commitment (call 0), netuid 42 as u16 LE, one field,
        // Data::Raw128 (variant 129), the 128 payload bytes.
        let payload = format!("{ACCOUNT}{ACCESS}{SECRET}");
        let want = format!("0x1200{}0481{}", hex::encode(42u16.to_le_bytes()), hex::encode(payload));
        assert_eq!(line(&all, "call_data: "), want, "{spec}");
        assert!(all.contains("nothing submitted"));
        let outside_call_data: String = all.lines().filter(|l| !l.starts_with("call_data: ")).collect();
        assert!(!outside_call_data.contains(SECRET), "the secret key is never printed: {all}");
        assert!(!line(&all, "credentials sha256: ").is_empty());
    }
}

#[test]
fn register_commit_and_status_on_the_embedded_chain() {
    let env = Env::new();
    let out = env.run(&["chain", "register"], "embedded");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("as uid 0 on netuid 42"), "{}", text(&out));

    let out = env.run(&["commit-credentials"], "embedded");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains(SECRET) && !all.contains(ACCESS), "keys are never printed: {all}");

    let out = env.run(&["chain", "status", "--json"], "embedded");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["network"], "embedded");
    assert_eq!(v["netuid"], 42);
    assert_eq!(v["uid"], 0);
    assert_eq!(v["hotkey"], Hotkey::from_seed(SEED).ss58());
    let vectors = crate::compat::vectors();
    assert_eq!(v["commitment"]["credentials_sha256"], vectors["read_commitment_fingerprint"]);
    assert_eq!(v["commitment"]["bucket"], Hotkey::from_seed(SEED).ss58().to_lowercase());

    let out = env.run(&["chain", "weights", "--json"], "embedded");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["weights"], serde_json::json!([]));
}

#[test]
fn refusals_say_what_to_do() {
    let env = Env::new();
    let out = env.run(&["chain", "status"], "embedded");
    assert_eq!(out.status.code(), Some(0), "status works before the subnet exists: {}", text(&out));
    assert!(text(&out).contains("no such subnet") && text(&out).contains("not registered"), "{}", text(&out));

    let out = env.run(&["chain", "register"], "finney");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("btcli subnet register --netuid 42"), "{}", text(&out));

    let out = env.run(&["commit-credentials", "--account-id", "not-hex-not-hex-not-hex-not-hex!"], "embedded");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("hexadecimal"), "{}", text(&out));

    let out = env.run(&["commit-credentials"], "embedded");
    assert_eq!(out.status.code(), Some(2), "no subnet yet: {}", text(&out));
    assert!(text(&out).contains("subnet 42 does not exist"), "{}", text(&out));

    // Someone else registers: the subnet exists, our hotkey is still not registered.
    let chain = EmbeddedChain::open(EmbeddedSettings::new(env.tmp.path().join("chain"), 50)).expect("chain");
    chain.register(42, &Hotkey::from_seed([6; 32]).ss58()).expect("register");
    let out = env.run(&["commit-credentials"], "embedded");
    assert_eq!(out.status.code(), Some(2), "not registered yet: {}", text(&out));
    assert!(text(&out).contains("is not registered on netuid 42"), "{}", text(&out));

    let out = env.run(&["chain", "status"], "nowhere");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("finney"), "{}", text(&out));
}
