//! [`FailureList`]: the failures of one decision, the first ones kept and every one counted.

use std::collections::BTreeMap;

use super::{Failure, FailureCode, MAX_DECISION_FAILURES};

/// The failures of one decision, bounded: the first [`MAX_DECISION_FAILURES`] in order
/// are kept, every failure is counted, in total and per code. A package with a million
/// bad rows costs a few kilobytes here, not a million strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailureList {
    kept: Vec<Failure>,
    total: u64,
    by_code: BTreeMap<&'static str, u64>,
}

impl FailureList {
    /// An empty list.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Whether more failures would still be kept (not only counted).
    pub(crate) fn has_room(&self) -> bool {
        self.kept.len() < MAX_DECISION_FAILURES
    }

    /// Adds a failure.
    pub(crate) fn push(&mut self, failure: Failure) {
        self.count(failure.kind(), 1);
        if self.has_room() {
            self.kept.push(failure);
        }
    }

    /// Adds a failure of `code`, building it only when it will be kept.
    pub(crate) fn push_with<E>(
        &mut self,
        code: FailureCode,
        make: impl FnOnce() -> Result<Failure, E>,
    ) -> Result<(), E> {
        if self.has_room() {
            self.push(make()?);
        } else {
            self.count(code, 1);
        }
        Ok(())
    }

    /// Counts `n` failures of `code` that come after the kept ones, without keeping them.
    pub(crate) fn count(&mut self, code: FailureCode, n: u64) {
        self.total = self.total.saturating_add(n);
        *self.by_code.entry(code.as_str()).or_default() += n;
    }

    /// Whether there is no failure at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many failures were found (kept or not).
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Whether some failures were only counted.
    pub(crate) fn is_truncated(&self) -> bool {
        self.total > self.kept.len() as u64
    }

    /// Count per code.
    pub(crate) fn by_code(&self) -> BTreeMap<String, u64> {
        self.by_code.iter().map(|(k, v)| ((*k).to_string(), *v)).collect()
    }

    /// The kept failures.
    pub(crate) fn into_kept(self) -> Vec<Failure> {
        self.kept
    }
}

impl Extend<Failure> for FailureList {
    fn extend<T: IntoIterator<Item = Failure>>(&mut self, iter: T) {
        for f in iter {
            self.push(f);
        }
    }
}

impl From<Vec<Failure>> for FailureList {
    fn from(failures: Vec<Failure>) -> Self {
        failures.into_iter().collect()
    }
}

impl FromIterator<Failure> for FailureList {
    fn from_iter<T: IntoIterator<Item = Failure>>(iter: T) -> Self {
        let mut list = Self::new();
        list.extend(iter);
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_list_keeps_the_first_ones_and_counts_all() {
        let mut list = FailureList::new();
        for i in 0..1000 {
            list.push(Failure::ShortCaption { clip_id: i.to_string() });
        }
        list.push_with::<()>(FailureCode::EmptyCaption, || panic!("not built once the list is full")).unwrap();
        list.count(FailureCode::DuplicateClip, 5);
        assert_eq!(list.kept.len(), MAX_DECISION_FAILURES);
        assert_eq!(list.kept[255].to_string(), "short_caption:255");
        assert_eq!(list.total(), 1006);
        assert!(list.is_truncated());
        let by_code = list.by_code();
        assert_eq!((by_code["short_caption"], by_code["empty_caption"], by_code["duplicate_clip"]), (1000, 1, 5));
        let small: FailureList = [Failure::DatasetSchemaInvalid].into_iter().collect();
        assert!(!small.is_truncated() && !small.is_empty());
        assert_eq!(
            Failure::ValueTooLong { column: "caption".into(), clip_id: "abc".into() }.to_string(),
            "value_too_long:caption:abc"
        );
    }
}
