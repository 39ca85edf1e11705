//! Servers the benchmark starts itself: a scratch directory each, readiness, peak memory, and a kill on drop so that
//! none outlives the run, whichever way it ends.

use anyhow::Context;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const LOG_FILE: &str = "stderr.log";

pub struct Spawned {
    name: &'static str,
    child: Child,
    // Removed after `drop` has killed the child, so the server never sees its files vanish while running.
    dir: TempDir,
}

impl Spawned {
    /// Starts `command`, its output going to a log in `dir` that is shown if it fails to come up.
    pub fn start(name: &'static str, dir: TempDir, mut command: Command) -> anyhow::Result<Self> {
        let log = std::fs::File::create(dir.path().join(LOG_FILE))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(Self { name, child, dir })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `url` until it answers 2xx; fails early, with the server's log, if the process exits.
    pub async fn wait_ready(&mut self, url: &str) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            let answer = client.get(url).timeout(Duration::from_secs(2)).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > give_up {
                anyhow::bail!(
                    "{} was not ready at {url} after 30 s:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch directory for one server.
pub fn scratch_dir(name: &str) -> anyhow::Result<TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("tocsin-bench-{name}-"))
        .tempdir()
        .context("creating a scratch directory")
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The process's peak resident set size (VmHWM), in bytes; `None` where the kernel does not tell.
pub fn peak_rss(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmHWM:")
}

/// The process's resident set size now (VmRSS), in bytes.
pub fn rss(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmRSS:")
}

/// A size line of `/proc/<pid>/status` (in kB there), in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .strip_suffix("kB")?;
    Some(kib.trim().parse::<u64>().ok()? * 1024)
}

/// Bytes in MiB, for reports.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Lowers the process's peak resident set size to its current one (`5` to `clear_refs`, Linux 4.0 on), so that the
/// next [`peak_rss`] covers only what happened since; `false` where the kernel refused.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(
        Path::new("/proc").join(pid.to_string()).join("clear_refs"),
        "5",
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_peak_rss() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss(std::process::id()).is_some_and(|b| b > 0));
        }
    }

    #[test]
    fn peak_rss_falls_back_to_the_current_after_a_reset() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let me = std::process::id();
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        drop(big);
        let before = peak_rss(me).unwrap();
        if reset_peak_rss(me) {
            assert!(peak_rss(me).unwrap() < before);
        }
    }
}
