//! The rustls set-up behind each `sslmode`: which certificates are trusted, and what is checked
//! of the one the server presents.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

use super::error::PostgresError;
use super::tls::{CaCertificates, PostgresSslMode};

/// What a connection checks of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verification {
    /// Nothing: any certificate is accepted, and only the handshake's own signatures are checked.
    Nothing,
    /// That the certificate chains to a trusted CA.
    Chain,
    /// That it chains to a trusted CA and names the host.
    ChainAndName,
}

impl Verification {
    /// What `mode` checks, with a CA bundle given or not: as in libpq, a given bundle makes
    /// `prefer` and `require` check the chain.
    pub(super) fn of(mode: PostgresSslMode, ca_given: bool) -> Self {
        match mode {
            PostgresSslMode::VerifyFull => Self::ChainAndName,
            PostgresSslMode::VerifyCa => Self::Chain,
            _ if ca_given => Self::Chain,
            _ => Self::Nothing,
        }
    }
}

/// rustls on ring, checking what `verification` says against `ca`, or against the platform's
/// roots where none is given.
pub(super) fn client_config(
    verification: Verification,
    ca: Option<CaCertificates>,
) -> Result<ClientConfig, PostgresError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match verification {
        Verification::Nothing => Arc::new(Unchecked(algorithms)),
        Verification::Chain => Arc::new(ChainOnly(webpki(ca, &provider)?)),
        Verification::ChainAndName => webpki(ca, &provider)?,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|cause| PostgresError::Tls(Box::new(cause)))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// rustls' own verifier of the chain and the name, trusting `ca`.
fn webpki(
    ca: Option<CaCertificates>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, PostgresError> {
    let roots = roots(ca.unwrap_or(CaCertificates::System))?;
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|cause| PostgresError::Tls(Box::new(cause)))
}

/// The certificates `ca` holds, as trust anchors; an error where there are none.
fn roots(ca: CaCertificates) -> Result<RootCertStore, PostgresError> {
    let unreadable = |cause: rustls::pki_types::pem::Error| PostgresError::CaUnreadable {
        origin: ca.origin(),
        cause: Box::new(cause),
    };
    let certificates: Vec<CertificateDer<'static>> = match &ca {
        CaCertificates::Pem(pem) => CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(unreadable)?,
        CaCertificates::File(path) => CertificateDer::pem_file_iter(path)
            .and_then(|certificates| certificates.collect())
            .map_err(unreadable)?,
        CaCertificates::System => rustls_native_certs::load_native_certs().certs,
    };
    let mut roots = RootCertStore::empty();
    let (_, rejected) = roots.add_parsable_certificates(certificates);
    if roots.is_empty() {
        return Err(PostgresError::NoCaCertificates {
            origin: ca.origin(),
            rejected,
        });
    }
    Ok(roots)
}

/// Accepts any certificate, as libpq's `require` does without a CA bundle: the connection is
/// encrypted, and the handshake's signatures are still checked against the certificate
/// presented, but nothing says whose it is.
#[derive(Debug)]
struct Unchecked(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Checks the chain and not the name, as libpq's `verify-ca` does. rustls' verifier checks the
/// chain first and the name last, so a refusal for the name alone comes from a chain that
/// verified.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checked =
            self.0
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match checked {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The refusal of the server's certificate among `error` and its causes. tokio-postgres and
/// tokio-rustls carry it inside an `io::Error`, whose `source` skips the error it wraps, so each
/// `io::Error` is looked into as well.
pub(super) fn certificate_refusal<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    std::iter::successors(Some(error), |&error| error.source())
        .flat_map(|error| {
            let wrapped = error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &(dyn std::error::Error + 'static));
            [Some(error), wrapped]
        })
        .flatten()
        .filter_map(|error| error.downcast_ref::<rustls::Error>())
        .find(|error| matches!(error, rustls::Error::InvalidCertificate(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_mode_checks_follows_libpq() {
        use PostgresSslMode::*;
        use Verification::*;
        let table = [
            (Prefer, false, Nothing),
            (Require, false, Nothing),
            (Require, true, Chain),
            (Prefer, true, Chain),
            (VerifyCa, false, Chain),
            (VerifyFull, false, ChainAndName),
            (VerifyFull, true, ChainAndName),
        ];
        for (mode, ca_given, checks) in table {
            assert_eq!(
                Verification::of(mode, ca_given),
                checks,
                "{mode} {ca_given}"
            );
        }
    }

    #[test]
    fn a_pem_without_certificates_is_an_error_naming_its_origin() {
        let ca = CaCertificates::Pem(Arc::from(&b"not a certificate"[..]));
        let refused = roots(ca).expect_err("no certificate");
        assert!(
            refused.to_string().contains("tls_ca_certificates"),
            "{refused}"
        );
    }

    #[test]
    fn a_missing_ca_file_is_an_error_naming_the_file() {
        let ca = CaCertificates::File("/nonexistent/ca.pem".into());
        let refused = roots(ca).expect_err("no file");
        assert!(
            refused.to_string().contains("/nonexistent/ca.pem"),
            "{refused}"
        );
    }
}
