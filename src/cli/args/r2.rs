//! The one resolver of R2 credentials: three values (account id, access key, secret key)
//! given as flags or environment variables, trimmed, and either all present, all absent,
//! or refused with the names of the missing variables.

use std::sync::Arc;

use anyhow::{Context, bail};
use nexis::storage::{ObjectStore, S3Config, S3Store};

/// One credential value and the environment variable that sets it (for error messages).
pub(crate) type Named<'a> = (&'static str, Option<&'a str>);

/// An R2 account id and key pair as given, not yet checked.
pub(crate) struct R2Credentials<'a> {
    /// The Cloudflare account id.
    pub(crate) account_id: Named<'a>,
    /// The access key id.
    pub(crate) access_key: Named<'a>,
    /// The secret access key.
    pub(crate) secret_key: Named<'a>,
}

/// Checked R2 credentials (trimmed, non-empty).
pub(crate) struct R2Keys {
    account_id: String,
    access_key: String,
    secret_key: String,
}

impl R2Credentials<'_> {
    fn values(&self) -> [(&'static str, Option<String>); 3] {
        let given = |(name, v): Named<'_>| (name, v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string));
        [given(self.account_id), given(self.access_key), given(self.secret_key)]
    }

    /// The keys when all three are given, `None` when none is; `needed_for` says in the
    /// error what the missing ones are for.
    pub(crate) fn all_or_none(&self, needed_for: &str) -> anyhow::Result<Option<R2Keys>> {
        if self.values().iter().all(|(_, v)| v.is_none()) {
            return Ok(None);
        }
        self.required(needed_for).map(Some)
    }

    /// The keys, or an error naming every missing variable.
    pub(crate) fn required(&self, needed_for: &str) -> anyhow::Result<R2Keys> {
        let values = self.values();
        let missing: Vec<&str> = values.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
        let [(_, Some(account_id)), (_, Some(access_key)), (_, Some(secret_key))] = values else {
            bail!("{needed_for} needs R2 credentials, which have no default: set {}", missing.join(", "));
        };
        Ok(R2Keys { account_id, access_key, secret_key })
    }
}

impl R2Keys {
    /// The S3 settings of `bucket` with these keys (`endpoint` replaces R2's).
    pub(crate) fn config(self, bucket: &str, endpoint: Option<String>) -> S3Config {
        S3Config::r2(&self.account_id, bucket, self.access_key, self.secret_key).with_endpoint_override(endpoint)
    }

    /// The store of `bucket` with these keys; `what` names it in errors.
    pub(crate) fn store(
        self,
        bucket: &str,
        endpoint: Option<String>,
        what: &str,
    ) -> anyhow::Result<Arc<dyn ObjectStore>> {
        let config = self.config(bucket, endpoint);
        Ok(Arc::new(S3Store::new(config).with_context(|| format!("{what} settings"))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds<'a>(a: Option<&'a str>, b: Option<&'a str>, c: Option<&'a str>) -> R2Credentials<'a> {
        R2Credentials { account_id: ("ACCOUNT", a), access_key: ("ACCESS", b), secret_key: ("SECRET", c) }
    }

    #[test]
    fn all_none_or_a_refusal_naming_the_missing_variables() {
        assert!(creds(None, Some("  "), None).all_or_none("x").expect("none given").is_none());
        assert!(creds(Some("a"), Some("b"), Some("c")).all_or_none("x").expect("all given").is_some());
        let err = creds(Some("a"), None, Some(" ")).all_or_none("the bucket").err().expect("partial");
        let text = err.to_string();
        assert!(text.contains("the bucket") && text.contains("ACCESS, SECRET") && !text.contains("ACCOUNT"), "{text}");
        let err = creds(None, None, None).required("owner mode").err().expect("required");
        assert!(err.to_string().contains("ACCOUNT, ACCESS, SECRET"), "{err}");
    }
}
