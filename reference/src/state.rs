//! Recurrent state: a flat list of f32 tensors in the official package's order (v4: five per
//! layer; v5–v7: three per layer), so it can be compared with and exchanged as a file.

use convert::arch::Version;
use convert::tuning::TunedState;
use convert::{Error, Result};
use ndarray::ArrayD;
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub tensors: Vec<ArrayD<f32>>,
}

impl State {
    pub fn zeros(shapes: &[Vec<usize>]) -> State {
        State { tensors: shapes.iter().map(|s| ArrayD::zeros(s.clone())).collect() }
    }
    /// The slice of state tensor `i`.
    pub fn slot(&mut self, i: usize) -> &mut [f32] {
        self.tensors[i].as_slice_mut().expect("state tensors are contiguous")
    }
    /// Named `{prefix}.{i}` for a safetensors file.
    pub fn named(&self, prefix: &str) -> Vec<(String, &ArrayD<f32>)> {
        self.tensors.iter().enumerate().map(|(i, t)| (format!("{prefix}.{i}"), t)).collect()
    }
    /// Read `state.{i}` tensors; the shapes must be those of `like` (the model's fresh state).
    pub fn load(path: &Path, like: &State) -> Result<State> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(e, path))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::corrupt(format!("not a safetensors file: {e}")).at(path))?;
        let mut out = like.clone();
        for (i, t) in out.tensors.iter_mut().enumerate() {
            let name = format!("state.{i}");
            let view =
                st.tensor(&name).map_err(|_| Error::corrupt("missing from the state file").tensor(&name).at(path))?;
            if view.dtype() != Dtype::F32 || view.shape() != t.shape() {
                return Err(Error::corrupt(format!(
                    "expected f32 {:?}, found {:?} {:?}",
                    t.shape(),
                    view.dtype(),
                    view.shape()
                ))
                .tensor(&name)
                .at(path));
            }
            let vals: Vec<f32> =
                view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            t.as_slice_mut().expect("contiguous").copy_from_slice(&vals);
        }
        Ok(out)
    }
}

/// A trained `time_state` `[H, N, N]` in the layout the engine (as the official package) keeps a
/// layer's WKV state in. RWKV-5/6 train it `[head][value][key]` and the package transposes the
/// last two axes when it loads one (`model.py`: `time_state.transpose(1,2)`); RWKV-7 trains it in
/// the package's own `[head][value][key]` state layout, and RWKV-Runner loads it as it is.
pub fn wkv_from_time_state(version: Version, trained: &[f32], heads: usize, n: usize) -> Vec<f32> {
    if version == Version::V7 {
        return trained.to_vec();
    }
    convert::arch::transform::Transform::Permute021.apply(&[trained], &[heads, n, n]).expect("[H, N, N] values")
}

impl State {
    /// `fresh` (a model's new state) started from the trained states of `tuned` instead of zeros,
    /// `version` saying which way round they are ([`wkv_from_time_state`]).
    pub fn from_tuned(fresh: &State, version: Version, tuned: &TunedState) -> State {
        let mut s = fresh.clone();
        for (i, layer) in tuned.layers.iter().enumerate() {
            s.slot(3 * i + 1).copy_from_slice(&wkv_from_time_state(version, layer, tuned.heads, tuned.head_size));
        }
        s
    }
}

/// Little-endian bytes of f32 values, for safetensors.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Write named f32 tensors to a safetensors file (written whole to a temporary name, then renamed).
pub fn save_f32(
    path: &Path,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| f32_bytes(v)).collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).expect("shape matches data")))
        .collect();
    let mut data = safetensors::serialize(views, Some(metadata)).map_err(|e| Error::corrupt(e.to_string()).at(path))?;
    sort_header(&mut data).map_err(|e| Error::corrupt(format!("safetensors header: {e}")).at(path))?;
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, data).map_err(|e| Error::io(e, &tmp))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(e, path))
}

/// safetensors writes its metadata in a hash map's order, which changes from run to run: rewrite
/// the header with sorted keys (the same JSON, so the same length; padded with spaces as before),
/// so that the same outputs give the same bytes.
fn sort_header(data: &mut [u8]) -> std::result::Result<(), serde_json::Error> {
    use std::collections::BTreeMap;
    let n = u64::from_le_bytes(data[..8].try_into().expect("8 bytes")) as usize;
    let mut header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&data[8..8 + n])?;
    if let Some(m) = header.get_mut("__metadata__") {
        let sorted: BTreeMap<String, serde_json::Value> = serde_json::from_value(m.take())?;
        *m = serde_json::to_value(sorted)?;
    }
    let mut h = serde_json::to_vec(&header)?;
    if h.len() > n {
        // Not the same JSON after all: keep safetensors' own header rather than cut one short.
        return Ok(());
    }
    h.resize(n, b' ');
    data[8..8 + n].copy_from_slice(&h);
    Ok(())
}
