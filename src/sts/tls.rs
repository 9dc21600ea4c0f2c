//! The TLS side of the STS client: which certificate authorities it trusts.

use std::path::Path;
use std::sync::Arc;

use super::{StsError, StsErrorKind};

/// Trust anchors: the CA file alone when configured (like `AWS_CA_BUNDLE`), else the system
/// store (feature `native-roots`), falling back to the bundled Mozilla roots (`webpki-roots`).
pub(super) fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, StsError> {
    let tls_error = |reason: String| StsError::new(StsErrorKind::Request { reason });
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls_error(format!("TLS setup failed: {e}")))?;
    if let Some(path) = ca_file {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| tls_error(format!("cannot read CA file {}: {e}", path.display())))?;
        for cert in certs {
            let cert = cert.map_err(|e| tls_error(format!("CA file {}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| tls_error(format!("CA file {}: {e}", path.display())))?;
        }
        if roots.is_empty() {
            return Err(tls_error(format!(
                "CA file {} holds no certificate",
                path.display()
            )));
        }
        return Ok(builder.with_root_certificates(roots).with_no_client_auth());
    }
    default_roots(builder).map_err(tls_error)
}

type WantsVerifier = rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>;

#[cfg(feature = "native-roots")]
fn default_roots(builder: WantsVerifier) -> Result<rustls::ClientConfig, String> {
    use hyper_rustls::ConfigBuilderExt;
    match builder.clone().with_native_roots() {
        Ok(b) => Ok(b.with_no_client_auth()),
        #[cfg(feature = "webpki-roots")]
        Err(_) => Ok(builder.with_webpki_roots().with_no_client_auth()),
        #[cfg(not(feature = "webpki-roots"))]
        Err(e) => Err(format!("no usable system trust store: {e}")),
    }
}

#[cfg(all(not(feature = "native-roots"), feature = "webpki-roots"))]
fn default_roots(builder: WantsVerifier) -> Result<rustls::ClientConfig, String> {
    use hyper_rustls::ConfigBuilderExt;
    Ok(builder.with_webpki_roots().with_no_client_auth())
}

#[cfg(not(any(feature = "native-roots", feature = "webpki-roots")))]
fn default_roots(builder: WantsVerifier) -> Result<rustls::ClientConfig, String> {
    let _ = builder;
    Err("built without trust roots: set [aws] ca_file".into())
}
