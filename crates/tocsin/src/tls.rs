//! HTTPS for `tocsin serve`, from PEM certificate and key files. The files are checked for a change every
//! `reload_check_seconds` and re-read while serving, so a renewed certificate needs no restart; a renewal that
//! does not load (a half-written file, a key that does not match) is logged and the current one kept.

use crate::config::TlsConfig;
use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A loaded certificate and the files it came from.
pub struct Tls {
    config: RustlsConfig,
    settings: TlsConfig,
}

/// Loads the certificate and key; an error names both files.
pub async fn load(settings: &TlsConfig) -> anyhow::Result<Tls> {
    let config = RustlsConfig::from_pem_file(&settings.cert_file, &settings.key_file)
        .await
        .with_context(|| {
            format!(
                "loading the TLS certificate {} and key {} ([tls] cert_file and key_file)",
                settings.cert_file.display(),
                settings.key_file.display()
            )
        })?;
    Ok(Tls {
        config,
        settings: settings.clone(),
    })
}

/// What identifies a version of a file: a renewal changes at least one of these.
type Version = Option<(SystemTime, u64)>;

fn version(path: &Path) -> Version {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Tls {
    /// The certificate as connections are accepted with it; it changes in place when the files are reloaded.
    pub fn config(&self) -> RustlsConfig {
        self.config.clone()
    }

    /// Watches the files until the returned task is aborted, reloading the certificate when they change.
    pub fn watch(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(watch(self.config.clone(), self.settings.clone()))
    }
}

async fn watch(config: RustlsConfig, settings: TlsConfig) {
    let files = [settings.cert_file.clone(), settings.key_file.clone()];
    let mut loaded: Vec<Version> = files.iter().map(|f| version(f)).collect();
    let mut tick = tokio::time::interval(Duration::from_secs(settings.reload_check_seconds.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now: Vec<Version> = files.iter().map(|f| version(f)).collect();
        if now == loaded {
            continue;
        }
        match config
            .reload_from_pem_file(&settings.cert_file, &settings.key_file)
            .await
        {
            Ok(()) => {
                tracing::info!(cert = %settings.cert_file.display(), "Reloaded the TLS certificate.");
                loaded = now;
            }
            // Retried at the next check: a renewal may be half written.
            Err(e) => tracing::warn!(
                error = %e,
                cert = %settings.cert_file.display(),
                key = %settings.key_file.display(),
                "The TLS files changed but do not load; still serving the previous certificate."
            ),
        }
    }
}
