//! Typed identities of the protocol: interval ids, chain blocks, weight epochs, hotkey
//! addresses and the `(interval, miner)` package key.
//!
//! Each is a serde-transparent newtype, so every wire format, vector and stored record keeps
//! the exact bytes the bare `u64`/`String` gave.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Defines a `Copy` newtype over `u64` with `new`, `get`, `Display` and serde transparency.
macro_rules! u64_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            /// Wraps a raw value.
            pub const fn new(raw: u64) -> Self {
                Self(raw)
            }

            /// The raw value.
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<u64> for $name {
            fn from(raw: u64) -> Self {
                Self(raw)
            }
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.0
            }
        }
    };
}

u64_id!(
    /// An interval id: the first block of a block interval (protocol §2).
    IntervalId
);
u64_id!(
    /// A chain block number.
    Block
);
u64_id!(
    /// A weight epoch: `block / weight_epoch_blocks`.
    Epoch
);

impl IntervalId {
    /// The interval's first block.
    pub const fn first_block(self) -> Block {
        Block(self.0)
    }
}

/// An SS58 hotkey address (a miner's or a validator's public identity), not a signing key
/// (that is `chain::Hotkey`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HotkeyAddr(String);

impl HotkeyAddr {
    /// Wraps an address string as given (no SS58 checks: validation lives where addresses enter).
    pub fn new(addr: impl Into<String>) -> Self {
        Self(addr.into())
    }

    /// The address text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for HotkeyAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for HotkeyAddr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for HotkeyAddr {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for HotkeyAddr {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for HotkeyAddr {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<HotkeyAddr> for String {
    fn eq(&self, other: &HotkeyAddr) -> bool {
        *self == other.0
    }
}

impl AsRef<str> for HotkeyAddr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for HotkeyAddr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<String> for HotkeyAddr {
    fn from(addr: String) -> Self {
        Self(addr)
    }
}

impl From<&str> for HotkeyAddr {
    fn from(addr: &str) -> Self {
        Self(addr.to_owned())
    }
}

/// One miner's package of one interval: the key of every per-package map and record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageKey {
    /// The interval the package belongs to.
    pub interval: IntervalId,
    /// The miner's hotkey address.
    pub miner: HotkeyAddr,
}

impl PackageKey {
    /// The key of `miner`'s package in `interval`.
    pub fn new(interval: IntervalId, miner: impl Into<HotkeyAddr>) -> Self {
        Self { interval, miner: miner.into() }
    }
}

impl fmt::Display for PackageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.interval, self.miner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialise_as_the_bare_values() {
        let json = serde_json::to_string(&(IntervalId::new(7_756_800), Block::new(3), Epoch::new(2))).expect("json");
        assert_eq!(json, "[7756800,3,2]");
        assert_eq!(serde_json::to_string(&HotkeyAddr::new("5F")).expect("json"), "\"5F\"");
        let back: (IntervalId, HotkeyAddr) = serde_json::from_str("[50,\"5G\"]").expect("parse");
        assert_eq!(back, (IntervalId::new(50), HotkeyAddr::new("5G")));
    }

    #[test]
    fn package_keys_order_by_interval_then_miner() {
        let a = PackageKey::new(IntervalId::new(50), "b");
        let b = PackageKey::new(IntervalId::new(100), "a");
        assert!(a < b);
        assert_eq!(a.to_string(), "50/b");
    }
}
