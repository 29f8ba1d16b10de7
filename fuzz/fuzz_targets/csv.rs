//! The CSV → design-matrix loader, with categorical detection, powers and standardisation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use neurona::glm::data::{TabularConfig, load, load_labelled};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("neurona-fuzz-csv-{}", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let config = TabularConfig {
        path,
        target: "y".into(),
        polynomial_degree: 2,
        standardize: true,
        ..TabularConfig::default()
    };
    let _ = load_labelled(&config);
    let _ = load(&config).map(|d| d.collinear_features());
});
