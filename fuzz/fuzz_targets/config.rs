//! Experiment files of every kind: task detection, parsing and validation.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use neurona::experiment::{ExperimentFile, Task};
use neurona::glm::linear::config::LinearConfig;
use neurona::glm::logistic::config::LogisticConfig;
use neurona::classifier::config::MlpConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Path::new("fuzz.toml");
    let _ = Task::detect(text, origin);
    if let Ok(c) = MlpConfig::parse(text, origin) {
        let _ = c.validate();
    }
    if let Ok(c) = LinearConfig::parse(text, origin) {
        let _ = c.validate();
    }
    if let Ok(c) = LogisticConfig::parse(text, origin) {
        let _ = c.validate();
    }
});
