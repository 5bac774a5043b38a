//! Settings shared by every subcommand that are not a single flag: the default work
//! directory (`NEXIS_WORKDIR` unset).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The default work directory from raw values: `$XDG_STATE_HOME/nexis` when that is an
/// absolute path, else `$HOME/.local/state/nexis` (the XDG state directory), else `nexis`
/// in the system temp directory. Docker images set `NEXIS_WORKDIR=/var/lib/nexis`.
pub(crate) fn default_workdir_from(xdg_state_home: Option<&OsStr>, home: Option<&OsStr>) -> PathBuf {
    let absolute = |v: Option<&OsStr>| v.map(Path::new).filter(|p| p.is_absolute()).map(Path::to_path_buf);
    if let Some(state) = absolute(xdg_state_home) {
        return state.join("nexis");
    }
    if let Some(home) = absolute(home) {
        return home.join(".local").join("state").join("nexis");
    }
    std::env::temp_dir().join("nexis")
}

/// The default work directory of this process (see [`default_workdir_from`]).
pub fn default_workdir() -> PathBuf {
    default_workdir_from(std::env::var_os("XDG_STATE_HOME").as_deref(), std::env::var_os("HOME").as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_state_home_then_home_then_temp() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(default_workdir_from(os("/x/state"), os("/home/u")), PathBuf::from("/x/state/nexis"));
        assert_eq!(default_workdir_from(None, os("/home/u")), PathBuf::from("/home/u/.local/state/nexis"));
        // Relative or empty values are ignored, as the XDG specification says.
        assert_eq!(default_workdir_from(os("rel"), os("/home/u")), PathBuf::from("/home/u/.local/state/nexis"));
        assert_eq!(default_workdir_from(os(""), None), std::env::temp_dir().join("nexis"));
    }
}
