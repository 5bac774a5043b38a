//! The package-wide hard checks (protocol §8) over a decoded [`DatasetFrame`], one file
//! per check. A spec definition turns checks on by name (`checks` in `specs/*.json`) in
//! the order their failures are reported; [`run`] runs them over every row. Failures are
//! bounded (only the first are kept, all are counted).
//!
//! A new check is a file here with a unit type implementing [`HardCheck`], listed in
//! [`ALL`], whose failures are `FailureCode` variants of `model/failure.rs`.

mod caption;
mod clip_start;
mod duplicates;
mod overlap;
mod value_length;
mod youtube_source;

use super::{DatasetError, DatasetFrame};
use crate::model::FailureList;
use crate::spec::DatasetSpec;

/// A package-wide hard check: a rule over all rows of the decoded frame.
pub(crate) trait HardCheck: Sync {
    /// Its name in a spec definition's `checks` list.
    fn name(&self) -> &'static str;
    /// Pushes its failures (row order) onto `failures`, which keeps the first and counts
    /// the rest.
    fn run(&self, frame: &DatasetFrame, failures: &mut FailureList) -> Result<(), DatasetError>;
}

/// Every hard check this build knows.
const ALL: &[&dyn HardCheck] = &[
    &value_length::ValueLength,
    &youtube_source::YoutubeSource,
    &overlap::Overlap,
    &caption::Caption,
    &clip_start::ClipStart,
    &duplicates::Duplicates,
];

/// The check called `name`, if this build knows it.
fn find(name: &str) -> Option<&'static dyn HardCheck> {
    ALL.iter().copied().find(|c| c.name() == name)
}

impl dyn DatasetSpec {
    /// Runs this spec's hard checks over all rows of `frame`, failures in protocol order.
    pub fn hard_checks(&self, frame: &DatasetFrame) -> Result<FailureList, DatasetError> {
        run(&self.definition().checks, frame)
    }
}

/// Runs the checks named `checks`, in order, over all rows of `frame`; a name this build
/// does not know is an internal error (no package passes a check that did not run).
fn run(checks: &[String], frame: &DatasetFrame) -> Result<FailureList, DatasetError> {
    let mut failures = FailureList::new();
    for name in checks {
        let check = find(name).ok_or_else(|| DatasetError::Internal(format!("unknown hard check `{name}`")))?;
        check.run(frame, &mut failures)?;
    }
    Ok(failures)
}

/// The trimmed clip id of `row`, owned, for a failure.
fn clip_id(frame: &DatasetFrame, row: usize) -> Result<String, DatasetError> {
    frame.clip_id(row).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SpecRegistry;

    #[test]
    fn every_builtin_spec_names_known_checks_once() {
        let registry = SpecRegistry::builtin().unwrap();
        for id in registry.ids() {
            let spec = registry.get(id).unwrap();
            let checks = &spec.definition().checks;
            for (i, name) in checks.iter().enumerate() {
                assert!(find(name).is_some(), "{id}: unknown hard check `{name}`");
                assert!(!checks[..i].contains(name), "{id}: `{name}` listed twice");
            }
        }
    }

    #[test]
    fn check_names_are_distinct() {
        for (i, check) in ALL.iter().enumerate() {
            assert!(ALL[..i].iter().all(|c| c.name() != check.name()), "{} twice", check.name());
        }
    }

    #[test]
    fn an_unknown_check_is_an_internal_error() {
        let frame = DatasetFrame::default();
        assert!(matches!(run(&["no_such_check".into()], &frame), Err(DatasetError::Internal(_))));
    }
}
