//! `nexis chain doctor`: reads everything weight setting depends on at one block and says
//! whether this hotkey's weights will land — each rule with its value, ✓/✗ and the fix, the
//! reveal schedule, and the version-key policy. Exit status 1 when a rule fails.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::cli::args::ChainArgs;
use crate::cli::args::{MechIdArg, VersionKeyArg};
use nexis::chain::schedule::SECURITY_BLOCKS;
use nexis::chain::weight_rules::{RuleCheck, evaluate, schedule_model};
use nexis::chain::{NetUid, WeightRules};

/// Arguments of `nexis chain doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub mechid: MechIdArg,
    #[command(flatten)]
    pub version_key: VersionKeyArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// When a commit made now would be revealed.
struct Schedule {
    model: &'static str,
    reveal_block: u64,
    reveal_round: u64,
    reveal_at: Option<String>,
}

/// The reveal of a commit made at the block `rules` was read at, by the model the runtime
/// supports (the same computation `plan` makes); an error when the chain's values overflow.
fn schedule(rules: &WeightRules, netuid: NetUid) -> anyhow::Result<Schedule> {
    let model = schedule_model(rules, netuid);
    let target = model.reveal_target(rules.block_time_ms, rules.now_ms, &rules.beacon)?;
    let reveal_at = i64::try_from(rules.beacon.round_time_ms(target.reveal_round))
        .ok()
        .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis)
        .map(|t| t.to_rfc3339());
    Ok(Schedule {
        model: model.name(),
        reveal_block: target.reveal_block.saturating_add(SECURITY_BLOCKS),
        reveal_round: target.reveal_round,
        reveal_at,
    })
}

/// Runs `nexis chain doctor`.
pub(crate) async fn doctor(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let network = args.chain.network()?;
    let netuid = args.chain.netuid(&network)?;
    let hotkey = args.chain.hotkey()?.ss58();
    let chain = args.chain.connect(&network).await?;
    let rules = chain.mechanism_weight_rules(netuid, args.mechid.mechid, &hotkey).await?;
    let checks = evaluate(&rules, None, args.version_key.version_key);
    let ok = checks.iter().all(|c| c.ok);
    let plan = schedule(&rules, netuid)?;
    if args.json {
        let out = json!({
            "network": network.to_string(),
            "netuid": netuid,
            "mecid": args.mechid.mechid,
            "hotkey": hotkey,
            "block": rules.block,
            "uid": rules.uid,
            "ok": ok,
            "version_key_policy": args.version_key.version_key.to_string(),
            "version_key_sent": args.version_key.version_key.key(rules.version_key),
            "commit_reveal": rules.commit_reveal,
            "schedule": {
                "model": plan.model,
                "reveal_block": rules.commit_reveal.then_some(plan.reveal_block),
                "reveal_round": rules.commit_reveal.then_some(plan.reveal_round),
                "reveal_at": if rules.commit_reveal { plan.reveal_at.clone() } else { None },
            },
            "rules": checks,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_text(&args, &network.to_string(), netuid, &hotkey, &rules, &checks, &plan);
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_text(
    args: &DoctorArgs,
    network: &str,
    netuid: NetUid,
    hotkey: &str,
    rules: &WeightRules,
    checks: &[RuleCheck],
    plan: &Schedule,
) {
    println!("network: {network}");
    println!("netuid: {netuid}");
    println!("mecid: {}", args.mechid.mechid);
    println!("hotkey: {hotkey}");
    println!("block: {}", rules.block);
    println!("version_key_policy: {}", args.version_key.version_key);
    println!("version_key_sent: {}", args.version_key.version_key.key(rules.version_key));
    if rules.commit_reveal {
        println!("schedule_model: {}", plan.model);
        println!("next_reveal_block: {}", plan.reveal_block);
        println!("drand_round: {}", plan.reveal_round);
        println!("expected_reveal_at: {}", plan.reveal_at.as_deref().unwrap_or("unknown"));
    } else {
        println!("schedule_model: none (plain set_weights, applied at once)");
    }
    println!("rules:");
    for c in checks {
        let mark = if c.ok { "✓" } else { "✗" };
        if c.ok {
            println!("  {mark} {}: {}", c.rule, c.value);
        } else {
            println!("  {mark} {}: {} — fix: {}", c.rule, c.value, c.fix);
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed == 0 {
        println!("verdict: this hotkey's weights will land");
    } else {
        println!("verdict: {failed} rule(s) fail; weights would be refused or dropped");
    }
}
