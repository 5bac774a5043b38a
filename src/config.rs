//! Settings shared by every subcommand that are not a single flag: the default work
//! directory when none is given. The library reads no environment: the CLI passes the
//! values of `XDG_STATE_HOME` and `HOME` in.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The default work directory from the values of `XDG_STATE_HOME` and `HOME`:
/// `$XDG_STATE_HOME/nexis` when that is an absolute path, else `$HOME/.local/state/nexis`
/// (the XDG state directory), else `nexis` in the system temp directory. (Docker images set
/// the work directory to `/var/lib/nexis`.)
pub fn default_workdir_from(xdg_state_home: Option<&OsStr>, home: Option<&OsStr>) -> PathBuf {
    let absolute = |v: Option<&OsStr>| v.map(Path::new).filter(|p| p.is_absolute()).map(Path::to_path_buf);
    if let Some(state) = absolute(xdg_state_home) {
        return state.join("nexis");
    }
    if let Some(home) = absolute(home) {
        return home.join(".local").join("state").join("nexis");
    }
    std::env::temp_dir().join("nexis")
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
