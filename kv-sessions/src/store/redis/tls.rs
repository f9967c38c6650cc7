//! TLS for a [`RedisStore`](super::RedisStore) (`rediss://`), through redis-rs' rustls
//! connections: the certificates an app adds to the builder, and the words for a server whose
//! certificate did not verify.

use std::error::Error as StdError;
use std::sync::Arc;

use redis::cluster::ClusterClientBuilder;
use redis::{Client, ClientTlsConfig, ConnectionAddr, ConnectionInfo, TlsCertificates};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::error::{BoxError, Chain};

/// The certificates given to [`RedisStoreBuilder`](super::RedisStoreBuilder): the CAs to trust
/// instead of the system's, and the client's own certificate for servers that ask for one.
#[derive(Clone, Default)]
pub(super) struct TlsSettings {
    ca_certificates: Option<Vec<u8>>,
    client_identity: Option<ClientTlsConfig>,
}

/// Says which certificates are set, never their bytes (the client's key is a secret).
impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca_certificates", &self.ca_certificates.is_some())
            .field("client_certificate", &self.client_identity.is_some())
            .finish()
    }
}

impl TlsSettings {
    pub(super) fn trust(&mut self, ca_certificates_pem: Vec<u8>) {
        self.ca_certificates = Some(ca_certificates_pem);
    }

    pub(super) fn identify(&mut self, certificate_pem: Vec<u8>, key_pem: Vec<u8>) {
        self.client_identity = Some(ClientTlsConfig {
            client_cert: certificate_pem,
            client_key: key_pem,
        });
    }

    /// Whether the app set anything here.
    pub(super) fn is_set(&self) -> bool {
        self.ca_certificates.is_some() || self.client_identity.is_some()
    }

    /// `client`, connecting with these certificates; `client` itself where none are set.
    /// Fails where `client` does not use TLS, or the certificates do not parse.
    pub(super) fn apply(&self, client: Client) -> Result<Client, TlsSetupError> {
        let info = client.get_connection_info();
        match self.for_server(info)? {
            None => Ok(client),
            Some(certificates) => Client::build_with_tls(info.clone(), certificates)
                .map_err(|cause| TlsSetupError::BadCertificates(Chain(&cause).to_string())),
        }
    }

    /// `cluster`, connecting to every node with these certificates, as to its seed nodes
    /// `seeds` (clients [`apply`](Self::apply) made, so already checked); `cluster` itself where
    /// none are set. Certificates that do not parse fail its `build`.
    pub(super) fn apply_to_cluster(
        &self,
        cluster: ClusterClientBuilder,
        seeds: &[Client],
    ) -> Result<ClusterClientBuilder, TlsSetupError> {
        let Some(seed) = seeds.first() else {
            return Ok(cluster);
        };
        Ok(match self.for_server(seed.get_connection_info())? {
            Some(certificates) => cluster.certs(certificates),
            None => cluster,
        })
    }

    /// The certificates to reach the server `info` points to with, `None` where none are set.
    /// Fails where `info` does not use TLS, or the CA bundle holds no certificate.
    fn for_server(&self, info: &ConnectionInfo) -> Result<Option<TlsCertificates>, TlsSetupError> {
        if !self.is_set() {
            return Ok(None);
        }
        if !matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
            return Err(TlsSetupError::NotTls);
        }
        if self
            .ca_certificates
            .as_deref()
            .is_some_and(holds_no_certificate)
        {
            return Err(TlsSetupError::BadCertificates(
                "no BEGIN CERTIFICATE block in the CA certificates".to_owned(),
            ));
        }
        Ok(Some(TlsCertificates {
            client_tls: self.client_identity.clone(),
            root_cert: self.ca_certificates.clone(),
        }))
    }
}

/// Whether `pem` holds no certificate at all: trusting it would refuse every server, which is
/// better said at once.
fn holds_no_certificate(pem: &[u8]) -> bool {
    CertificateDer::pem_slice_iter(pem).next().is_none()
}

/// Why the certificates given to the builder cannot be used.
#[derive(Debug, thiserror::Error)]
pub(super) enum TlsSetupError {
    /// Certificates were given for a server reached without TLS.
    #[error(
        "TLS certificates were given to the Redis store, and its URL does not use TLS: write \
         rediss:// rather than redis://"
    )]
    NotTls,
    /// The PEM text does not hold what it should.
    #[error("the TLS certificates given to the Redis store do not parse: {0}")]
    BadCertificates(String),
}

/// The refusal by rustls of the server's certificate, where that is what `cause` (or one of its
/// sources) reports: the certificate is signed by no CA the store trusts, names another host, or
/// has expired. A server's refusal of the client (no client certificate) is not one: it reaches
/// the message as the cause of an unreachable server.
pub(super) fn refused_certificate(cause: &BoxError) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(&**cause);
    while let Some(error) = next {
        if let Some(refusal) = as_refusal(error) {
            return Some(refusal);
        }
        next = error.source();
    }
    None
}

/// `cause`, or the refusal of the server's certificate that explains it, as a connection of
/// `seed`'s own reports it. A cluster's client hands a refused certificate on as text alone,
/// which [`refused_certificate`] cannot tell from any other failure, so the store asks a seed
/// node once more, on its own, to say why.
pub(super) async fn explained(cause: BoxError, seed: Option<&Client>) -> BoxError {
    let Some(seed) = seed.filter(|_| refused_certificate(&cause).is_none()) else {
        return cause;
    };
    match seed.get_multiplexed_async_connection().await {
        Err(failure) => {
            let failure = BoxError::from(failure);
            if refused_certificate(&failure).is_some() {
                failure
            } else {
                cause
            }
        }
        Ok(_) => cause,
    }
}

/// `error` as a certificate refusal by rustls, looking inside the wrappers that hide it from
/// `source`: redis-rs hands on the error it wraps as an `Arc`, which is an error of its own type,
/// and an `io::Error`'s `source` skips the error it wraps.
fn as_refusal<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    if let Some(shared) = error.downcast_ref::<Arc<dyn StdError + Send + Sync>>() {
        return as_refusal(&**shared);
    }
    let rustls_error = match error.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref()?.downcast_ref::<rustls::Error>()?,
        None => error.downcast_ref::<rustls::Error>()?,
    };
    matches!(rustls_error, rustls::Error::InvalidCertificate(_)).then_some(rustls_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_for_a_url_without_tls_are_refused() {
        let mut settings = TlsSettings::default();
        settings.trust(b"-----BEGIN CERTIFICATE-----".to_vec());
        let plain = Client::open("redis://cache.internal:6379").expect("a valid URL");
        assert!(matches!(settings.apply(plain), Err(TlsSetupError::NotTls)));
    }

    #[test]
    fn a_ca_bundle_that_is_not_pem_is_refused_at_once() {
        let mut settings = TlsSettings::default();
        settings.trust(b"-----BEGIN CERTIFICATE-----\nnot base64\n".to_vec());
        let tls = Client::open("rediss://cache.internal:6380").expect("a valid URL");
        let refused = settings.apply(tls).expect_err("no certificate in it");
        assert!(refused.to_string().contains("do not parse"), "{refused}");
    }

    #[test]
    fn a_ca_bundle_without_a_certificate_is_refused_at_once() {
        let mut settings = TlsSettings::default();
        settings.trust(b"/etc/redis/ca.pem".to_vec());
        let tls = Client::open("rediss://cache.internal:6380").expect("a valid URL");
        let refused = settings.apply(tls).expect_err("no certificate in it");
        assert!(
            refused.to_string().contains("no BEGIN CERTIFICATE"),
            "{refused}"
        );
    }

    #[test]
    fn a_certificate_refusal_is_found_inside_the_io_error_that_carries_it() {
        let refusal = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let carried: BoxError = Box::new(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            refusal,
        )));
        assert!(refused_certificate(&carried).is_some());
        let refused_connection: BoxError =
            Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(refused_certificate(&refused_connection).is_none());
    }
}
