//! TLS towards the history database server, over rustls with the ring provider (the
//! same stack lettre already brings for SMTP, so no system OpenSSL is needed).
//!
//! PostgreSQL gets a rustls `ClientConfig` built here (the verifier follows libpq's
//! modes, see [`super::url::Tls`]); MySQL/MariaDB gets the `mysql` crate's own
//! `SslOpts`, which builds its rustls config itself. The files named by the options are
//! read here first in both cases, so that a missing or unreadable file, or one holding
//! no certificate, stops the start with a message naming the option and the path.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::url::{Roots, Tls, Verify};

/// ring, the provider lettre and the mysql crate use here too. rustls marks it
/// deprecated for lacking post-quantum key exchange; the other provider, aws-lc-rs, is
/// a C library built with cmake, a second crypto stack in the binary.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate of the PEM file `path` (named `option` in messages).
pub fn read_certs(option: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{option} {}: {e}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "{option} {}: not a PEM certificate file: {e}",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "{option} {}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The private key of the PEM file `path`. With `libpq_mode_check`, refused when others
/// may read it, as libpq refuses it (group-readable is allowed for a root-owned file).
pub fn read_key(
    option: &str,
    path: &Path,
    libpq_mode_check: bool,
) -> Result<PrivateKeyDer<'static>, String> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{option} {shown}: {e}"))?;
    if libpq_mode_check {
        let allowed = if meta.uid() == 0 { 0o640 } else { 0o600 };
        if meta.mode() & 0o777 & !allowed != 0 {
            return Err(format!(
                "{option} {shown}: the private key may be read by others (mode {:o}); \
                 it must be {allowed:o} or less",
                meta.mode() & 0o777
            ));
        }
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{option} {shown}: {e}"))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        format!("{option} {shown}: no unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1): {e}")
    })
}

/// The root store for `roots`.
fn root_store(option: &str, roots: &Roots) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Roots::System => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::File(path) => {
            for cert in read_certs(option, path)? {
                store.add(cert).map_err(|e| {
                    format!(
                        "{option} {}: a certificate cannot be a root: {e}",
                        path.display()
                    )
                })?;
            }
        }
    }
    Ok(store)
}

/// The rustls client configuration for a PostgreSQL connection with settings `tls`
/// (whose `usage` is not `Disable`).
pub fn pg_client_config(tls: &Tls) -> Result<rustls::ClientConfig, String> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match (&tls.roots, tls.verify) {
        (Some(roots), verify) if verify != Verify::None => {
            let store = root_store("sslrootcert", roots)?;
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                    .build()
                    .map_err(|e| format!("sslrootcert: {e}"))?;
            Arc::new(Checked {
                webpki,
                check_name: verify == Verify::Full,
            })
        }
        _ => Arc::new(Unchecked(provider.clone())),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match &tls.client_cert {
        None => Ok(builder.with_no_client_auth()),
        Some((cert, key)) => {
            let chain = read_certs("sslcert", cert)?;
            let key = read_key("sslkey", key, true)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("sslcert / sslkey: {e}"))
        }
    }
}

/// The files the MySQL options name, read once so that a bad one is reported by name
/// (the `mysql` crate reads them again on each connection).
pub fn check_mysql_files(tls: &Tls) -> Result<(), String> {
    if let Some(Roots::File(ca)) = &tls.roots {
        root_store("ssl_ca", &Roots::File(ca.clone()))?;
    }
    if let Some((cert, key)) = &tls.client_cert {
        read_certs("ssl_cert", cert)?;
        read_key("ssl_key", key, false)?;
    }
    Ok(())
}

/// The chain checked against the roots; the name too when `check_name` (libpq's
/// `verify-ca` checks the chain only).
#[derive(Debug)]
struct Checked {
    webpki: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            // webpki reports a name mismatch only once the chain is valid.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// libpq's `require` without a root certificate: any certificate is accepted (the
/// connection is encrypted, the server not authenticated). The handshake signature is
/// still checked against the certificate the server sent.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

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
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The first rustls error in `e`'s source chain (a failed handshake or certificate).
pub fn rustls_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(r);
            }
        }
        cur = err.source();
    }
    None
}

/// `e` and its sources, joined: tokio-postgres prints "error performing TLS handshake"
/// and keeps the reason (the certificate's fault) in the source.
pub fn with_sources(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
