//! `nexis health`: the liveness probe a container health check runs against a service's
//! liveness file.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use nexis::telemetry::{Health, check_health, heartbeat_path};

use crate::cli::args::WorkdirArg;

/// The services that write a liveness file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Service {
    /// `nexis validate`.
    Validator,
    /// `nexis sync-owner-datasets`.
    OwnerSync,
}

impl Service {
    /// The name of the service's liveness file (`{name}.heartbeat.json`).
    fn name(self) -> &'static str {
        match self {
            Self::Validator => "validator",
            Self::OwnerSync => "owner-sync",
        }
    }
}

/// Arguments of `nexis health`.
#[derive(Debug, Args)]
#[command(after_help = "Exit status: 0 when the service's loop progressed within --max-age-sec, \
    1 otherwise. Meant for container health checks.")]
pub(crate) struct HealthArgs {
    /// Which service to check.
    #[arg(long, value_enum, default_value = "validator")]
    service: Service,
    /// Longest acceptable time since the loop last progressed, seconds.
    #[arg(long, env = "NEXIS_HEALTH_MAX_AGE_SEC", default_value_t = 600)]
    max_age_sec: u64,
    #[command(flatten)]
    workdir: WorkdirArg,
}

/// Runs `nexis health`.
pub(crate) fn run(args: HealthArgs) -> ExitCode {
    let service = args.service.name();
    let path = heartbeat_path(&args.workdir.path(), service);
    match check_health(&path, Duration::from_secs(args.max_age_sec)) {
        Health::Alive { age_sec, beat } => {
            println!(
                "healthy: {service} progressed {age_sec} s ago (block {}, last interval {})",
                beat.block,
                beat.last_interval.map_or("-".to_string(), |i| i.to_string())
            );
            ExitCode::SUCCESS
        }
        Health::Stale { age_sec, .. } => {
            println!("unhealthy: {service} has not progressed for {age_sec} s (limit {} s)", args.max_age_sec);
            ExitCode::from(1)
        }
        Health::Missing(why) => {
            println!("unhealthy: no liveness file ({why}); is the {service} running with this NEXIS_WORKDIR?");
            ExitCode::from(1)
        }
    }
}
