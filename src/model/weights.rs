//! Saving and loading weights with Burn's store (burnpack), in f16 on disk when asked:
//! half the download, and the models lose nothing measurable at that precision.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::store::{BurnpackStore, FloatCastAdapter, HalfPrecisionAdapter, ModuleSnapshot};
use burn::tensor::{Bytes, DType};

use crate::error::{Error, Result};

/// Metadata key saying whether the file holds f16 or f32 values.
const PRECISION: &str = "precision";

fn precision(half: bool) -> &'static str {
    if half { "f16" } else { "f32" }
}

/// Metadata key of the description (the configuration as JSON).
const DESCRIPTION: &str = "cc2d";
/// Metadata key of a detector's landmark names (a JSON array), written on export.
pub const LANDMARK_NAMES: &str = "landmarks";
/// Metadata key of a detector's confidence calibration (JSON), written by `cc2d calibrate`.
pub const CONFIDENCE: &str = "confidence";

/// Stores `module` at `path` (f16 when `half`), with `description` (e.g. the configuration
/// as JSON) in the file's metadata.
pub fn save<M: Module + ModuleSnapshot>(module: &M, path: &Path, half: bool, description: &str) -> Result<()> {
    save_with(module, path, half, description, &[])
}

/// [`save`] with more metadata entries.
pub fn save_with<M: Module + ModuleSnapshot>(module: &M, path: &Path, half: bool, description: &str, extra: &[(&str, String)]) -> Result<()> {
    let mut store = described(BurnpackStore::from_file(path).auto_extension(false).overwrite(true), half, description, extra);
    module.save_into(&mut store).map_err(|e| Error::Invalid(format!("{}: cannot save weights: {e}", path.display())))
}

/// The weights as bytes (for the browser, or to ship).
pub fn to_bytes<M: Module + ModuleSnapshot>(module: &M, half: bool, description: &str, extra: &[(&str, String)]) -> Result<Vec<u8>> {
    let mut store = described(BurnpackStore::from_bytes(None), half, description, extra);
    module.save_into(&mut store).map_err(|e| Error::Invalid(format!("cannot serialise weights: {e}")))?;
    let bytes = store.get_bytes().map_err(|e| Error::Invalid(format!("cannot serialise weights: {e}")))?;
    Ok(bytes.to_vec())
}

/// A store about to be written: the metadata, and the f16 adapter when `half`.
fn described(mut store: BurnpackStore, half: bool, description: &str, extra: &[(&str, String)]) -> BurnpackStore {
    store = store.metadata(DESCRIPTION, description).metadata(PRECISION, precision(half));
    for (key, value) in extra {
        store = store.metadata(*key, value.as_str());
    }
    if half {
        store = store.with_to_adapter(HalfPrecisionAdapter::new());
    }
    store
}

/// Loads weights from a file into `module`, which must have been built from the same
/// configuration; anything else is refused with what does not match.
pub fn load<M: Module + ModuleSnapshot>(module: M, path: &Path) -> Result<M> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(module, bytes, &path.display().to_string())
}

/// The description stored with the weights by [`save`] (e.g. the configuration as JSON).
pub fn description(path: &Path) -> Result<String> {
    let reader = burn::store::burn_pack::Reader::from_file(path)
        .map_err(|e| Error::Weights { source_name: path.display().to_string(), reason: format!("not a cc2d weights file (burnpack): {e}") })?;
    Ok(reader.metadata().get(DESCRIPTION).cloned().unwrap_or_default())
}

/// The metadata of weights held in memory (key → value).
pub fn metadata(bytes: &[u8], source_name: &str) -> Result<BTreeMap<String, String>> {
    let reader = burn::store::burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| Error::Weights { source_name: source_name.to_string(), reason: format!("not a cc2d weights file (burnpack): {e}") })?;
    Ok(reader.metadata().iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// The description stored with weights held in memory (empty when absent).
pub fn description_of(metadata: &BTreeMap<String, String>) -> &str {
    metadata.get(DESCRIPTION).map_or("", String::as_str)
}

/// [`load`] from bytes in memory.
pub fn from_bytes<M: Module + ModuleSnapshot>(mut module: M, bytes: Vec<u8>, source_name: &str) -> Result<M> {
    let mismatch = |what: String| Error::Weights { source_name: source_name.to_string(), reason: format!("weights do not match this model's configuration: {what}") };
    let bytes = Bytes::from_bytes_vec(bytes);
    // A clear refusal for anything that is not a burnpack, before the store parses it.
    burn::store::burn_pack::Reader::from_bytes(bytes.clone())
        .map_err(|e| Error::Weights { source_name: source_name.to_string(), reason: format!("not a cc2d weights file (burnpack): {e}") })?;
    // Weights saved before the encoder and decoder were modules of their own (the shipped
    // ones) name a stage `encoder.0.…`; it is `encoder.stages.0.…` now. Every float tensor
    // is widened to f32 on the way in: f16 files, and any float type a file holds whatever its
    // metadata says (the models compute in f32; a tensor left in f16 would fail at the first
    // operation that meets an f32 one).
    let mut store = BurnpackStore::from_bytes(Some(bytes))
        .validate(true)
        .allow_partial(false)
        .with_remap_pattern(r"(^|\.)(encoder|decoder)\.(\d+)\.", "${1}${2}.stages.${3}.")
        .with_from_adapter(FloatCastAdapter::to(DType::F32));
    let result = module.load_from(&mut store).map_err(|e| mismatch(e.to_string()))?;
    let mut problems = Vec::new();
    if !result.errors.is_empty() {
        problems.push(format!("{} tensors of the wrong shape or type, e.g. {:?}", result.errors.len(), result.errors[0]));
    }
    if !result.missing.is_empty() {
        problems.push(format!("{} tensors missing, e.g. {}", result.missing.len(), result.missing[0].0));
    }
    if !result.unused.is_empty() {
        problems.push(format!("{} tensors the model does not have, e.g. {}", result.unused.len(), result.unused[0]));
    }
    if problems.is_empty() { Ok(module) } else { Err(mismatch(problems.join("; "))) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::extractor::ExtractorConfig;
    use burn::tensor::{Device, Distribution, Tensor};

    fn tiny(width: usize) -> ExtractorConfig {
        ExtractorConfig::new([4, 4, width, 8, 8], [1, 1, 1, 1, 1], [8, 8, 4, 4]).with_embedding(4)
    }

    fn outputs(m: &crate::model::extractor::Extractor, x: &Tensor<4>) -> Vec<f32> {
        m.forward(x.clone()).into_iter().flat_map(|t| t.into_data().try_to_vec::<f32>().unwrap()).collect()
    }

    #[test]
    fn save_then_load_gives_identical_outputs() {
        let device = Device::flex();
        let scratch = tempfile::Builder::new().prefix("cc2d-weights-").tempdir().unwrap();
        let dir = scratch.path();
        let x = Tensor::<4>::random([1, 3, 64, 64], Distribution::Uniform(0.0, 1.0), &device);
        let model = tiny(8).init(&device);
        let expect = outputs(&model, &x);

        let path = dir.join("f32.bpk");
        save(&model, &path, false, "tiny").unwrap();
        let loaded = load(tiny(8).init(&device), &path).unwrap();
        assert_eq!(outputs(&loaded, &x), expect);

        // f16 on disk: fewer bytes, outputs equal to f16 precision.
        let half = dir.join("f16.bpk");
        save(&model, &half, true, "tiny").unwrap();
        let (h, f) = (std::fs::metadata(&half).unwrap().len(), std::fs::metadata(&path).unwrap().len());
        assert!(h < f, "f16 {h} bytes vs f32 {f} bytes"); // tiny tensors: alignment dominates
        let got = outputs(&load(tiny(8).init(&device), &half).unwrap(), &x);
        let scale = expect.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = got.iter().zip(&expect).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= 1e-2 * scale.max(1.0), "f16 round trip moved outputs by {diff} (scale {scale})");

        // In memory, as the browser loads them.
        let bytes = to_bytes(&model, false, "tiny", &[]).unwrap();
        assert_eq!(outputs(&from_bytes(tiny(8).init(&device), bytes, "mem").unwrap(), &x), expect);
    }

    #[test]
    fn weights_of_another_configuration_are_refused_clearly() {
        let device = Device::flex();
        let scratch = tempfile::Builder::new().prefix("cc2d-weights-bad-").tempdir().unwrap();
        let dir = scratch.path();
        let path = dir.join("w.bpk");
        save(&tiny(8).init(&device), &path, true, "tiny").unwrap();
        let e = load(tiny(16).init(&device), &path).unwrap_err().to_string();
        assert!(e.contains("w.bpk") && e.contains("do not match this model's configuration"), "{e}");
        let e = load(tiny(8).init(&device), &dir.join("missing.bpk")).unwrap_err().to_string();
        assert!(e.contains("missing.bpk") && e.contains("cannot read file"), "{e}");
        let e = from_bytes(tiny(8).init(&device), b"not a weights file".to_vec(), "upload.bin").unwrap_err().to_string();
        assert!(e.contains("upload.bin: not a cc2d weights file"), "{e}");
    }
}
