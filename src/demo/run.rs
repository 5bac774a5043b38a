//! The demo's loop: for each interval, every miner builds and uploads its package (or
//! cheats, or stays away), the chain is stepped block by block until the interval closes,
//! and one [`ValidatorService::tick`](crate::validator::ValidatorService::tick)
//! evaluates it and, at the start of each weight epoch, sets weights. Every step becomes
//! a timeline event; the summary comes from the decisions and the weights read back from
//! the chain.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tracing::info;

use super::cheats::{copy_package, publish, shrink_clips};
use super::report::{DemoReport, Event, ParticipantInfo, SummaryRow, Timed, UidWeight};
use super::subnet::{LIAR_SIZE, MinerNode, NETUID, Role, Subnet};
use super::{DemoError, DemoSettings};
use crate::chain::Chain;
use crate::chain::commitment::bucket_for_hotkey;
use crate::evidence_server::local::InvalidWindow;
use crate::miner::package::package_dir;
use crate::model::Decision;
use crate::protocol::{Block, IntervalId};

/// Collects events, passing each to an observer as it happens (live output).
struct Timeline<'a> {
    started: Instant,
    events: Vec<Timed>,
    observer: &'a mut (dyn FnMut(&Timed) + Send),
}

impl Timeline<'_> {
    fn push(&mut self, event: Event) {
        let timed = Timed { at_sec: (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0, event };
        (self.observer)(&timed);
        self.events.push(timed);
    }
}

/// Runs the demo in `settings.workdir`, handing every event to `observer` as it happens,
/// and returns the full report.
pub async fn run(
    settings: &DemoSettings,
    workdir_temporary: bool,
    observer: &mut (dyn FnMut(&Timed) + Send),
) -> Result<DemoReport, DemoError> {
    let mut timeline = Timeline { started: Instant::now(), events: Vec::new(), observer };
    let subnet = Subnet::build(settings).await?;
    timeline.push(subnet_ready(&subnet, settings));

    let mut block = subnet.chain.current_block().await?;
    for round in 0..settings.intervals {
        block = run_interval(&subnet, settings, &mut timeline, round, block).await?;
    }
    block = await_reveals(&subnet, settings, &mut timeline, block).await?;

    super::dataset::sync_owner_dataset(&subnet, settings).await;
    let on_chain = subnet.chain.weights_of(NETUID, &subnet.validator.ss58()).await?;
    let summary = summarize(&subnet, &timeline.events, &uid_weights(&subnet, &on_chain));
    let invalid_window = named_invalid_window(&subnet, settings.clock.interval_start(Block::new(block)).get()).await;
    let elapsed_sec = timeline.started.elapsed().as_secs_f64();
    info!(elapsed_sec, "demo finished");
    Ok(DemoReport {
        workdir: settings.workdir.display().to_string(),
        workdir_temporary,
        timeline: timeline.events,
        summary,
        invalid_window,
        elapsed_sec,
    })
}

/// The first event: the subnet's constants and its participants.
fn subnet_ready(subnet: &Subnet, settings: &DemoSettings) -> Event {
    let clock = settings.clock;
    Event::SubnetReady {
        netuid: NETUID,
        interval_blocks: clock.interval_blocks,
        upload_reserve_blocks: clock.upload_reserve_blocks,
        weight_epoch_blocks: clock.weight_epoch_blocks,
        intervals: settings.intervals,
        participants: subnet
            .participants()
            .map(|p| ParticipantInfo {
                name: p.name.clone(),
                role: p.role,
                uid: p.uid,
                hotkey: p.ss58(),
                bucket: (p.role != Role::Validator).then(|| bucket_for_hotkey(&p.ss58())),
            })
            .collect(),
    }
}

/// One interval from `block`: the miners act, the chain steps to the deadline, the validator
/// ticks. Returns the block reached.
async fn run_interval(
    subnet: &Subnet,
    settings: &DemoSettings,
    timeline: &mut Timeline<'_>,
    round: u64,
    block: u64,
) -> Result<u64, DemoError> {
    let clock = settings.clock;
    let interval_id = clock.interval_start(Block::new(block)).get();
    timeline.push(Event::IntervalOpened { interval_id, block });
    // Miners that build their own packages work at once; copiers go after them.
    let (builders, copiers): (Vec<&MinerNode>, Vec<&MinerNode>) =
        subnet.miners.iter().partition(|node| node.victim.is_none());
    let built = futures::future::join_all(builders.iter().map(|node| act(subnet, node, round, interval_id))).await;
    for event in built {
        timeline.push(event?);
    }
    for node in copiers {
        let event = act(subnet, node, round, interval_id).await?;
        timeline.push(event);
    }
    let block =
        step_to(subnet, Block::new(block), clock.deadline_block(IntervalId::new(interval_id)), settings.block_time)
            .await?;
    timeline.push(Event::IntervalClosed { interval_id, block });
    let tick = subnet.service.tick().await?;
    let mut evaluated = false;
    for report in &tick.intervals {
        evaluated |= report.record.interval_id == interval_id;
        for d in &report.record.decisions {
            timeline.push(decision_event(subnet, d));
        }
        if let Some(p) = &report.published {
            timeline.push(Event::OwnerPublished {
                interval_id: report.record.interval_id,
                bundles: p.bundles,
                snapshot_entries: p.snapshot_entries,
            });
        }
    }
    if !evaluated {
        return Err(DemoError::NotEvaluated(interval_id));
    }
    note_reveals(subnet, timeline, tick.block).await?;
    if let Some(w) = &tick.weights {
        let pairs: Vec<(u16, u16)> = w.uids.iter().copied().zip(w.weights.iter().copied()).collect();
        timeline.push(Event::WeightsSet {
            epoch: w.epoch.get(),
            block: w.block,
            burned: w.burned,
            weights: uid_weights(subnet, &pairs),
            reveal_round: w.reveal_round,
        });
    }
    Ok(block)
}

/// The timeline event of one decision, the miner named by its demo role.
fn decision_event(subnet: &Subnet, d: &Decision) -> Event {
    // Only committed miners are candidates, and every one of them is a demo miner.
    let who = subnet.by_hotkey(&d.miner_hotkey);
    Event::Decision {
        interval_id: d.interval_id,
        miner: who.map_or_else(|| d.miner_hotkey.clone(), |p| p.name.clone()),
        role: who.map_or(Role::Honest, |p| p.role),
        uid: who.map_or(u16::MAX, |p| p.uid),
        accepted: d.accepted,
        codes: d.failures.iter().map(|f| f.code().to_string()).collect(),
        failures: d.failures.iter().map(ToString::to_string).collect(),
        record_count: d.record_count,
        sampled_rows: d.sampled_rows,
        global_overlap_pruned: d.notes.global_overlap_pruned_count.unwrap_or(0),
        cross_miner_overlap_pruned: d.notes.cross_miner_overlap_pruned_count.unwrap_or(0),
        duplicate_content_pruned: d.notes.duplicate_content_pruned_count.unwrap_or(0),
        duplicate_content: d.notes.duplicate_content.clone(),
    }
}

/// Commit-reveal: steps on from `block` until the chain has revealed the last commit (at most
/// 64 blocks). Returns the block reached.
async fn await_reveals(
    subnet: &Subnet,
    settings: &DemoSettings,
    timeline: &mut Timeline<'_>,
    mut block: u64,
) -> Result<u64, DemoError> {
    let hotkey = subnet.validator.ss58();
    for _ in 0..64 {
        if subnet.chain.pending_commits(NETUID, &hotkey).await?.is_empty() {
            break;
        }
        block = step_to(subnet, Block::new(block), Block::new(block + 1), settings.block_time).await?;
        subnet.service.follow_reveals(block).await?;
        note_reveals(subnet, timeline, block).await?;
    }
    Ok(block)
}

/// The validation API's invalid window at `interval_id`, hotkeys named by demo role; `None`
/// (logged) when the API does not answer.
async fn named_invalid_window(subnet: &Subnet, interval_id: u64) -> Option<InvalidWindow> {
    match subnet.api.invalid_window(interval_id).await {
        Ok(mut w) => {
            w.names =
                w.hotkeys.iter().map(|h| subnet.by_hotkey(h).map_or_else(|| h.clone(), |p| p.name.clone())).collect();
            Some(w)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the demo's validation API did not answer");
            None
        }
    }
}

/// What `node` does in `round` (0-based) for `interval_id`.
async fn act(subnet: &Subnet, node: &MinerNode, round: u64, interval_id: u64) -> Result<Event, DemoError> {
    let who = &node.who;
    let published = |records: u64, note: Option<String>| Event::PackagePublished {
        interval_id,
        miner: who.name.clone(),
        role: who.role,
        records,
        note,
    };
    let missing =
        |reason: String| Event::PackageMissing { interval_id, miner: who.name.clone(), role: who.role, reason };
    if node.skip == Some(round) {
        return Ok(missing("this miner is offline for the interval".into()));
    }
    let victim = node.victim.and_then(|i| subnet.miners.get(i));
    if let (Some(victim), None) = (victim, &node.miner) {
        let copied = copy_package(victim.bucket.as_ref(), node.bucket.as_ref(), interval_id, &who.ss58()).await?;
        return Ok(match copied {
            Some(rows) => published(rows, Some(format!("copied {}'s package, uploaded after it", victim.who.name))),
            None => missing(format!("{} published nothing to copy", victim.who.name)),
        });
    }
    let Some(miner) = &node.miner else { return Ok(missing("no miner configured".into())) };
    let report =
        miner.mine_interval(interval_id).await.map_err(|source| DemoError::Mine { miner: who.name.clone(), source })?;
    let records = report.records as u64;
    if let Some(victim) = victim {
        let note = format!("mined a re-encoded re-upload of {}'s videos under other ids, after it", victim.who.name);
        return Ok(published(records, Some(note)));
    }
    let Some(staging) = &node.staging else { return Ok(published(records, None)) };
    // The resolution liar: doctor the package it built, then upload it to its bucket.
    let dir = package_dir(staging, interval_id);
    let (width, height) = LIAR_SIZE;
    let shrunk = shrink_clips(&dir, width, height, miner.clipper.timeout).await?;
    publish(node.bucket.as_ref(), &dir, interval_id).await?;
    Ok(published(
        records,
        Some(format!(
            "clips re-encoded to {}x{}, hashes updated, dataset still declares 1280x720",
            shrunk.width, shrunk.height
        )),
    ))
}

/// Adds a reveal event when the validator's watchdog saw a commit revealed since the last call.
async fn note_reveals(subnet: &Subnet, timeline: &mut Timeline<'_>, block: u64) -> Result<(), DemoError> {
    let revealed = subnet.service.metrics.weights_revealed.get();
    let shown = timeline.events.iter().filter(|e| matches!(e.event, Event::WeightsRevealed { .. })).count() as u64;
    if revealed > shown {
        let on_chain = subnet.chain.weights_of(NETUID, &subnet.validator.ss58()).await?;
        timeline.push(Event::WeightsRevealed { block, weights: uid_weights(subnet, &on_chain) });
    }
    Ok(())
}

/// Steps the chain one block at a time (one `block_time` apart) from `block` to `target`.
async fn step_to(subnet: &Subnet, from: Block, target: Block, block_time: Duration) -> Result<u64, DemoError> {
    let (mut block, target) = (from.get(), target.get());
    while block < target {
        if !block_time.is_zero() {
            tokio::time::sleep(block_time).await;
        }
        block = subnet.chain.advance(1)?;
    }
    Ok(block)
}

fn uid_weights(subnet: &Subnet, pairs: &[(u16, u16)]) -> Vec<UidWeight> {
    let total: f64 = pairs.iter().map(|(_, w)| f64::from(*w)).sum();
    pairs
        .iter()
        .map(|&(uid, weight)| UidWeight {
            uid,
            name: subnet.by_uid(uid).map_or_else(|| format!("uid {uid}"), |p| p.name.clone()),
            weight,
            share: if total > 0.0 { f64::from(weight) / total } else { 0.0 },
        })
        .collect()
}

fn summarize(subnet: &Subnet, events: &[Timed], weights: &[UidWeight]) -> Vec<SummaryRow> {
    let mut rows: BTreeMap<u16, SummaryRow> = subnet
        .miners
        .iter()
        .map(|m| {
            let w = weights.iter().find(|w| w.uid == m.who.uid);
            let row = SummaryRow {
                name: m.who.name.clone(),
                role: m.who.role,
                uid: m.who.uid,
                hotkey: m.who.ss58(),
                intervals_published: 0,
                intervals_accepted: 0,
                intervals_rejected: 0,
                rows_kept: 0,
                rows_pruned: 0,
                failure_codes: Vec::new(),
                final_weight: w.map_or(0, |w| w.weight),
                final_share: w.map_or(0.0, |w| w.share),
            };
            (m.who.uid, row)
        })
        .collect();
    for t in events {
        match &t.event {
            Event::PackagePublished { miner, .. } => {
                if let Some(r) = rows.values_mut().find(|r| &r.name == miner) {
                    r.intervals_published += 1;
                }
            }
            Event::Decision {
                uid,
                accepted,
                codes,
                record_count,
                global_overlap_pruned,
                cross_miner_overlap_pruned,
                duplicate_content_pruned,
                ..
            } => {
                let Some(r) = rows.get_mut(uid) else { continue };
                r.rows_pruned += global_overlap_pruned + cross_miner_overlap_pruned + duplicate_content_pruned;
                if *accepted {
                    r.intervals_accepted += 1;
                    r.rows_kept += record_count;
                } else {
                    r.intervals_rejected += 1;
                }
                for code in codes {
                    if !r.failure_codes.contains(code) {
                        r.failure_codes.push(code.clone());
                    }
                }
            }
            _ => {}
        }
    }
    rows.into_values().collect()
}
