//! Compact string storage for decoded columns: one byte buffer plus 4-byte end offsets,
//! so a million short values cost two allocations instead of a million. An arena holds at
//! most 4 GiB of text; the decoder's 2 GiB cap per dataset keeps every column below it.

/// Strings stored back to back, addressed by insertion index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrArena {
    bytes: String,
    ends: Vec<u32>,
}

impl StrArena {
    /// An empty arena sized for `values` strings.
    pub fn with_capacity(values: usize) -> Self {
        Self { bytes: String::new(), ends: Vec::with_capacity(values) }
    }

    /// Appends `s` and returns its index (an empty string past the 4 GiB the arena holds).
    pub fn push(&mut self, s: &str) -> u32 {
        if let Ok(end) = u32::try_from(self.bytes.len() + s.len()) {
            self.bytes.push_str(s);
            self.ends.push(end);
        } else {
            self.ends.push(self.ends.last().copied().unwrap_or(0));
        }
        (self.ends.len() - 1) as u32
    }

    /// The string at `index`.
    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = if index == 0 { 0 } else { self.ends[index - 1] as usize };
        self.bytes.get(start..end)
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the arena holds no strings.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The strings in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let end = end as usize;
            let s = &self.bytes[start..end];
            start = end;
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_returns_strings_in_order() {
        let mut a = StrArena::with_capacity(3);
        assert_eq!((a.push("ab"), a.push(""), a.push("ü-c")), (0, 1, 2));
        assert_eq!(a.len(), 3);
        assert_eq!((a.get(0), a.get(1), a.get(2), a.get(3)), (Some("ab"), Some(""), Some("ü-c"), None));
        assert_eq!(a.iter().collect::<Vec<_>>(), ["ab", "", "ü-c"]);
    }
}
