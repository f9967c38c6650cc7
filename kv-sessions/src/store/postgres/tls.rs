//! How the store's own connections use TLS: libpq's `sslmode` and `sslrootcert`, from the
//! connection string, the builder and the environment, turned into the connector that
//! tokio-postgres connects with.

use std::fmt;
use std::path::PathBuf;

use super::connection_string::TlsKeys;
use super::error::PostgresError;

/// The connector every connection of the store is opened with: rustls with the `postgres-tls`
/// feature, plain TCP without it.
#[cfg(feature = "postgres-tls")]
pub(super) type Connector = tokio_postgres_rustls::MakeRustlsConnect;
/// The connector every connection of the store is opened with: rustls with the `postgres-tls`
/// feature, plain TCP without it.
#[cfg(not(feature = "postgres-tls"))]
pub(super) type Connector = tokio_postgres::NoTls;

/// The environment variable libpq reads a CA bundle's path from, where the connection string
/// names none.
const ROOT_CERT_VARIABLE: &str = "PGSSLROOTCERT";

/// How hard a connection insists on TLS, and what it checks of the server's certificate: libpq's
/// `sslmode`, with libpq's meanings.
///
/// Only [`VerifyFull`](Self::VerifyFull) proves that the connection reached the server it was
/// meant for; it is what production should use. The weaker modes stop someone who only listens,
/// not someone who can answer in the server's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PostgresSslMode {
    /// No TLS.
    Disable,
    /// TLS where the server offers it, plaintext where it does not, with the certificate
    /// unchecked unless a CA bundle is given. libpq's default, and the store's where the URL
    /// says nothing (without the `postgres-tls` feature, always plaintext).
    Prefer,
    /// TLS or no connection, with the certificate unchecked: any certificate is accepted, as
    /// libpq does. Where a CA bundle is given, the certificate must chain to it, as under
    /// [`VerifyCa`](Self::VerifyCa), again as libpq does.
    Require,
    /// TLS, with a certificate that chains to a trusted CA; the host name is not checked.
    VerifyCa,
    /// TLS, with a certificate that chains to a trusted CA and names the host connected to.
    VerifyFull,
}

impl PostgresSslMode {
    /// The mode libpq calls `name`: `disable`, `prefer`, `require`, `verify-ca` or
    /// `verify-full`.
    fn named(name: &str) -> Result<Self, PostgresError> {
        let modes = [
            Self::Disable,
            Self::Prefer,
            Self::Require,
            Self::VerifyCa,
            Self::VerifyFull,
        ];
        modes
            .into_iter()
            .find(|mode| mode.as_str() == name)
            .ok_or_else(|| PostgresError::UnknownSslMode(name.to_owned()))
    }

    /// libpq's name for the mode, as in `sslmode=verify-full`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// The mode tokio-postgres negotiates with: it knows whether TLS is wanted, not what the
    /// connector checks.
    fn negotiated(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode;
        match self {
            Self::Disable => SslMode::Disable,
            Self::Prefer => SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => SslMode::Require,
        }
    }

    /// The mode `config` negotiates, which is all a tokio-postgres `Config` can say.
    fn of(config: &tokio_postgres::Config) -> Self {
        use tokio_postgres::config::SslMode;
        match config.get_ssl_mode() {
            SslMode::Disable => Self::Disable,
            SslMode::Require => Self::Require,
            _ => Self::Prefer,
        }
    }
}

impl fmt::Display for PostgresSslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the CA certificates that vouch for the server come from.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum CaCertificates {
    /// PEM text handed to the builder.
    #[cfg(feature = "postgres-tls")]
    Pem(std::sync::Arc<[u8]>),
    /// A PEM file.
    File(PathBuf),
    /// The platform's trusted roots (`sslrootcert=system`).
    System,
}

impl CaCertificates {
    /// `sslrootcert`'s value: `system`, or a path.
    fn named(value: &str) -> Self {
        match value {
            "system" => Self::System,
            path => Self::File(path.into()),
        }
    }

    /// Where they come from, for an error message.
    pub(super) fn origin(&self) -> String {
        match self {
            #[cfg(feature = "postgres-tls")]
            Self::Pem(_) => "the PEM text given to tls_ca_certificates".to_owned(),
            Self::File(path) => format!("the file {}", path.display()),
            Self::System => "the platform's trusted roots".to_owned(),
        }
    }
}

impl fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())
    }
}

/// What one source (the builder, the connection string, the environment) asks of TLS; the first
/// source that says something wins, in that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct TlsSettings {
    pub(super) mode: Option<PostgresSslMode>,
    pub(super) ca: Option<CaCertificates>,
}

impl TlsSettings {
    /// What a connection string's TLS keys ask for.
    pub(super) fn from_keys(keys: TlsKeys) -> Result<Self, PostgresError> {
        Ok(Self {
            mode: keys
                .sslmode
                .as_deref()
                .map(PostgresSslMode::named)
                .transpose()?,
            ca: keys.sslrootcert.as_deref().map(CaCertificates::named),
        })
    }

    /// `self`, with what it leaves unsaid taken from `fallback`.
    pub(super) fn or(self, fallback: Self) -> Self {
        Self {
            mode: self.mode.or(fallback.mode),
            ca: self.ca.or(fallback.ca),
        }
    }

    /// The CA bundle `PGSSLROOTCERT` names, read only with the `postgres-tls` feature: without
    /// it no certificate is ever checked.
    fn from_environment() -> Self {
        let variable = std::env::var(ROOT_CERT_VARIABLE).ok();
        Self {
            mode: None,
            ca: variable
                .filter(|value| cfg!(feature = "postgres-tls") && !value.is_empty())
                .as_deref()
                .map(CaCertificates::named),
        }
    }

    /// Sets `config` to negotiate TLS as `self`, with `PGSSLROOTCERT` behind it, asks, and
    /// returns the connector that checks what it asks. Where no source names a mode, it is
    /// `config`'s own (`prefer` unless set), or `verify-full` with the platform's roots, which
    /// libpq allows with no other mode.
    pub(super) fn apply(
        self,
        config: &mut tokio_postgres::Config,
    ) -> Result<Connector, PostgresError> {
        let settings = self.or(Self::from_environment());
        let mode = match (settings.mode, &settings.ca) {
            (None, Some(CaCertificates::System)) => PostgresSslMode::VerifyFull,
            (Some(mode), Some(CaCertificates::System)) if mode != PostgresSslMode::VerifyFull => {
                return Err(PostgresError::SystemRootsNeedVerifyFull(mode));
            }
            (mode, _) => mode.unwrap_or_else(|| PostgresSslMode::of(config)),
        };
        config.ssl_mode(mode.negotiated());
        connector(mode, settings.ca)
    }
}

/// The connector for `mode`, checking the server against `ca`, or against the platform's roots
/// where `mode` verifies and no CA is given.
#[cfg(feature = "postgres-tls")]
fn connector(
    mode: PostgresSslMode,
    ca: Option<CaCertificates>,
) -> Result<Connector, PostgresError> {
    use super::verifiers::{Verification, client_config};
    let config = client_config(Verification::of(mode, ca.is_some()), ca)?;
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Plain TCP, where `mode` and `ca` allow it: a mode that requires TLS, or a CA bundle, fails,
/// saying which feature to turn on.
#[cfg(not(feature = "postgres-tls"))]
fn connector(
    mode: PostgresSslMode,
    ca: Option<CaCertificates>,
) -> Result<Connector, PostgresError> {
    match (mode, ca) {
        (PostgresSslMode::Disable | PostgresSslMode::Prefer, None) => Ok(tokio_postgres::NoTls),
        (mode, _) => Err(PostgresError::TlsNotBuilt(mode)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_libpq_mode_name_reads_back_as_itself() {
        for name in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
            let mode = PostgresSslMode::named(name).expect("a libpq mode");
            assert_eq!(mode.to_string(), name);
        }
        let refused = PostgresSslMode::named("allow").expect_err("not supported");
        assert!(refused.to_string().contains("verify-full"), "{refused}");
    }

    #[test]
    fn the_builder_wins_over_the_url_field_by_field() {
        let builder = TlsSettings {
            mode: Some(PostgresSslMode::VerifyFull),
            ca: None,
        };
        let url = TlsSettings {
            mode: Some(PostgresSslMode::Require),
            ca: Some(CaCertificates::File("/etc/ca.pem".into())),
        };
        let chosen = builder.or(url);
        assert_eq!(chosen.mode, Some(PostgresSslMode::VerifyFull));
        assert_eq!(chosen.ca, Some(CaCertificates::File("/etc/ca.pem".into())));
    }

    #[test]
    fn the_platform_s_roots_need_verify_full_as_in_libpq() {
        let mut config = tokio_postgres::Config::new();
        let weak = TlsSettings {
            mode: Some(PostgresSslMode::Require),
            ca: Some(CaCertificates::System),
        };
        let Err(refused) = weak.apply(&mut config) else {
            panic!("libpq refuses sslrootcert=system under require");
        };
        assert!(refused.to_string().contains("verify-full"), "{refused}");
    }

    #[cfg(not(feature = "postgres-tls"))]
    #[test]
    fn a_mode_that_needs_tls_names_the_feature_in_a_build_without_it() {
        let mut config = tokio_postgres::Config::new();
        let settings = TlsSettings {
            mode: Some(PostgresSslMode::Require),
            ca: None,
        };
        let Err(refused) = settings.apply(&mut config) else {
            panic!("a build without TLS cannot require it");
        };
        assert!(refused.to_string().contains("postgres-tls"), "{refused}");
    }
}
