//! Any bytes given to the loader: never a panic, never a hang; when the input
//! loads, the engine must answer for every pair without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netfence_model::{LoadOptions, load_texts};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (_, result) = load_texts(&[("fuzz.yaml", text)], &LoadOptions::default());
    if let Ok(loaded) = result {
        let engine = netfence_engine::Engine::new(&loaded.cluster);
        for s in 0..engine.endpoints.len().min(16) {
            for d in 0..engine.endpoints.len().min(16) {
                let _ = engine.explain(s, d);
            }
        }
    }
});
