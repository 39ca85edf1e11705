//! Fuzzing of the configuration file parser: a full configuration, edited. Every file loads or is refused with an
//! error, never a panic, and what loads gives settings the server can use.

use crate::fuzzing::{edited_text, fuzz};

#[test]
fn configuration_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tocsin.toml");
    let corpus = vec![include_str!(
        "../../../../tests/fixtures/corpus/config.toml"
    )];
    fuzz("config toml", edited_text(corpus), |text| {
        std::fs::write(&path, text).expect("write the file");
        let Ok(config) = tocsin::config::Config::load(Some(&path), Default::default()) else {
            return Ok(false);
        };
        let _ = config.ingest.settings();
        Ok(config.notify.validate().is_ok())
    });
}
