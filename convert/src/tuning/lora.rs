//! LoRA and PiSSA adapters (RWKV-PEFT, RWKV-LM-LoRA) merged into a model as RWKV-PEFT's
//! `merge/merge.py` merges them, but in f32 and rounded once:
//!
//! - LoRA: `W' = W + B·A·α/r`, for every `X.weight` of the base with `X.lora_A` [r, in] and
//!   `X.lora_B` [out, r] in the adapter (r = B's columns; α is not in the file);
//! - PiSSA: `W' = bf16(W − B₀·A₀) + B·A`, with `B₀`, `A₀` from the init file the training wrote
//!   (`X.init_lora_A/B`, or `model.X.…` as merge.py looks them up). The residual is rounded to
//!   bf16 because that is the weight the adapter was trained against (RWKV-PEFT trains in bf16,
//!   and merge.py rounds it so too).
//!
//! The merged matrix takes the base tensor's float type (f32 for a quantized base). Any other
//! tensor the adapter carries (trained `time_*`, `ln*`, `emb`, `head`) replaces the base one;
//! state-tuned states trained beside it (`att.time_state`) are not weights and are left to
//! `--state`.
//! Several adapters apply one after another, as repeated runs of merge.py would.

use super::scratch::Scratch;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::tensor::{shape_string, Tensor};
use crate::torch::TorchCheckpoint;
use half::bf16;
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;

/// merge.py's `--lora_alpha` default, used when none is given.
pub const DEFAULT_ALPHA: f32 = 16.0;

/// One adapter to merge: `--lora FILE [--lora-alpha A] [--lora-init PISSA_INIT]`.
#[derive(Debug, Clone)]
pub struct AdapterSpec {
    pub path: PathBuf,
    /// LoRA's α (`None`: [`DEFAULT_ALPHA`]); PiSSA has none.
    pub alpha: Option<f32>,
    /// A PiSSA adapter's init file (`init_pissa.pth`): makes this a PiSSA merge.
    pub pissa_init: Option<PathBuf>,
}

/// What a merge did, for messages, manifests and model cards.
#[derive(Debug, Clone, Serialize)]
pub struct MergeSummary {
    pub file: PathBuf,
    /// `lora` or `pissa`.
    pub kind: &'static str,
    /// The ranks of its pairs (one, as a rule).
    pub ranks: Vec<usize>,
    /// α (LoRA only).
    pub alpha: Option<f32>,
    /// Matrices changed by B·A.
    pub merged: Vec<String>,
    /// Tensors the adapter carried whole.
    pub replaced: Vec<String>,
    /// State-tuned states the adapter file carries too (`att.time_state`; for `--state`).
    pub states: usize,
}

impl MergeSummary {
    /// One line: "LoRA r=8 α=32 from FILE: 16 matrices merged, 3 tensors replaced".
    pub fn describe(&self) -> String {
        let file = self.file.file_name().unwrap_or_default().to_string_lossy();
        let r: Vec<String> = self.ranks.iter().map(|r| r.to_string()).collect();
        let what = match self.alpha {
            Some(a) => format!("LoRA r={} α={a}", r.join("/")),
            None => format!("PiSSA r={}", r.join("/")),
        };
        format!("{what} from {file}: {} matrices merged, {} tensors replaced", self.merged.len(), self.replaced.len())
    }
}

/// An adapter's tensors carried whole, with the position of the base tensor each replaces.
type Whole<'a> = Vec<(usize, &'a Tensor)>;

/// A pair `X.lora_A`, `X.lora_B` and the base tensor `X.weight` it changes.
struct Pair<'a> {
    base: usize,
    a: &'a Tensor,
    b: &'a Tensor,
}

impl Model {
    /// Merge the adapter `spec` into this model (see the module's description). Errors name the
    /// adapter file and the tensor: a pair without its base matrix or its other half, shapes that
    /// do not fit, a whole tensor the base does not have, a state or init file given as adapter.
    pub fn merge_adapter(&mut self, spec: &AdapterSpec) -> Result<MergeSummary> {
        self.merge_adapter_with(spec, &mut |_, _| {})
    }

    /// [`Model::merge_adapter`], telling `progress(done, total)` after each matrix.
    pub fn merge_adapter_with(
        &mut self,
        spec: &AdapterSpec,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<MergeSummary> {
        let ckpt = TorchCheckpoint::open(&spec.path)?;
        let init = spec.pissa_init.as_deref().map(TorchCheckpoint::open).transpose()?;
        let at = |e: Error| e.at(&spec.path);
        let (pairs, mut whole) = self.classify(&ckpt.tensors).map_err(at)?;
        let states = ckpt.tensors.iter().filter(|t| t.name.ends_with(".time_state")).count();
        if pairs.is_empty() && whole.is_empty() {
            return Err(at(Error::not_rwkv(if states > 0 {
                "holds only state-tuned states (att.time_state), nothing to merge: pass it with --state"
            } else {
                "holds no tensors to merge"
            })));
        }
        // merge.py takes each pair's own rank (α/r per matrix); one file usually has one.
        let mut ranks: Vec<usize> = pairs.iter().map(|p| p.a.shape[0]).collect();
        ranks.sort_unstable();
        ranks.dedup();
        if init.is_some() && spec.alpha.is_some() {
            return Err(at(Error::refused("a PiSSA merge has no α (it adds B·A unscaled); drop --lora-alpha")));
        }
        let alpha = spec.pissa_init.is_none().then(|| spec.alpha.unwrap_or(DEFAULT_ALPHA));
        // Where each merged matrix comes from (an adapter carrying `X.weight` whole and a pair
        // for it too: the pair merges into the adapter's matrix, as merge.py replaces first), and
        // the float type it is stored in (f32 for a quantized base).
        let sources: Vec<(&Tensor, &std::path::Path)> = pairs
            .iter()
            .map(|p| match whole.iter().find(|(i, _)| *i == p.base) {
                Some((_, t)) => (*t, spec.path.as_path()),
                None => (&self.tensors[p.base], self.path.as_path()),
            })
            .collect();
        whole.retain(|(i, _)| !pairs.iter().any(|p| p.base == *i));
        let out_type =
            |t: &Tensor| if matches!(t.dtype, DType::F32 | DType::F16 | DType::BF16) { t.dtype } else { DType::F32 };
        let sizes: Vec<usize> = sources
            .iter()
            .map(|(w, _)| w.numel() * out_type(w).size())
            .chain(whole.iter().map(|(_, t)| t.bytes().len()))
            .collect();
        let (mut scratch, ranges) = Scratch::new(&sizes)?;
        let mut done = Vec::new();
        for (k, ((p, &(w, w_file)), range)) in pairs.iter().zip(&sources).zip(&ranges).enumerate() {
            progress(k, pairs.len());
            let init = init.as_ref().map(|f| init_pair(w, p, f)).transpose()?;
            let product = Product {
                b: p.b.to_f32().map_err(at)?,
                a: p.a.to_f32().map_err(at)?,
                scale: alpha.map_or(1.0, |a| a / p.a.shape[0] as f32),
                init,
            };
            let dtype = out_type(w);
            product.merge_into(w, dtype, scratch.slice(range.clone())).map_err(|e| e.at(w_file))?;
            // About one matrix stays resident, as when writers stream a model.
            w.data.release_pages();
            scratch.release(range.clone());
            done.push((p.base, dtype, range.clone()));
        }
        progress(pairs.len(), pairs.len());
        for ((i, t), range) in whole.iter().zip(&ranges[pairs.len()..]) {
            scratch.slice(range.clone()).copy_from_slice(t.bytes());
            done.push((*i, t.dtype, range.clone()));
        }
        drop(sources);
        let bytes = scratch.finish()?;
        for (i, dtype, range) in done {
            self.tensors[i].dtype = dtype;
            self.tensors[i].data = bytes(range);
        }
        Ok(MergeSummary {
            file: spec.path.clone(),
            kind: if init.is_some() { "pissa" } else { "lora" },
            ranks,
            alpha,
            merged: pairs.iter().map(|p| self.tensors[p.base].name.clone()).collect(),
            replaced: whole.iter().map(|(i, _)| self.tensors[*i].name.clone()).collect(),
            states,
        })
    }

    /// Sort an adapter's tensors into LoRA pairs and whole tensors, each checked against the base.
    fn classify<'a>(&self, tensors: &'a [Tensor]) -> Result<(Vec<Pair<'a>>, Whole<'a>)> {
        let find = |name: &str| tensors.iter().find(|t| t.name == name);
        let mut pairs = Vec::new();
        let mut whole = Vec::new();
        for t in tensors {
            let refuse = |m: &str| Err(Error::refused(m.to_string()).tensor(&t.name));
            let name = t.name.as_str();
            if name.contains(".init_lora_") {
                return refuse("is a PiSSA init tensor: pass this file as --lora-init beside its adapter");
            }
            if name.ends_with(".time_state") {
                // Trained beside the adapter (train_parts "state"): an initial state, not a weight.
                continue;
            }
            if name.ends_with(".disha") {
                return Err(
                    Error::unsupported("is a DiSHA (Bone/Bat) adapter tensor; only LoRA and PiSSA merge").tensor(name)
                );
            }
            if let Some(prefix) = name.strip_suffix(".lora_B") {
                if find(&format!("{prefix}.lora_A")).is_none() {
                    return Err(Error::corrupt(format!("has no {prefix}.lora_A beside it")).tensor(name));
                }
                continue;
            }
            let Some(prefix) = name.strip_suffix(".lora_A") else {
                whole.push((self.check_whole(t)?, t));
                continue;
            };
            let b_name = format!("{prefix}.lora_B");
            let b = find(&b_name).ok_or_else(|| Error::corrupt(format!("has no {b_name} beside it")).tensor(name))?;
            let w_name = format!("{prefix}.weight");
            let base = self.position(&w_name).ok_or_else(|| {
                Error::not_rwkv(format!("has no base matrix: the model has no '{w_name}'")).tensor(name)
            })?;
            let w = &self.tensors[base];
            let (a_shape, b_shape) = (&t.shape, &b.shape);
            let fits = w.shape.len() == 2
                && a_shape.len() == 2
                && b_shape.len() == 2
                && a_shape[0] > 0
                && b_shape[1] == a_shape[0]
                && a_shape[1] == w.shape[1]
                && b_shape[0] == w.shape[0];
            if !fits {
                return Err(Error::corrupt(format!(
                    "lora_B {} · lora_A {} does not fit the base matrix {w_name} {}: expected lora_A [r, {}] \
                     and lora_B [{}, r]",
                    shape_string(b_shape),
                    shape_string(a_shape),
                    shape_string(&w.shape),
                    w.shape.get(1).copied().unwrap_or(0),
                    w.shape.first().copied().unwrap_or(0),
                ))
                .tensor(name));
            }
            for x in [t, b] {
                if !x.dtype.is_float() {
                    return Err(Error::unsupported(format!("is {}, not a float type", x.dtype)).tensor(&x.name));
                }
            }
            pairs.push(Pair { base, a: t, b });
        }
        Ok((pairs, whole))
    }

    /// A whole tensor of an adapter: the base must have it, in the same shape, as a float.
    fn check_whole(&self, t: &Tensor) -> Result<usize> {
        let i = self.position(&t.name).ok_or_else(|| {
            Error::not_rwkv("is not in the base model (an adapter for another architecture or size?)").tensor(&t.name)
        })?;
        let base = &self.tensors[i];
        if base.squeezed_shape() != t.squeezed_shape() {
            return Err(Error::corrupt(format!(
                "is {} in the adapter but {} in the base model",
                t.shape_string(),
                base.shape_string()
            ))
            .tensor(&t.name));
        }
        if !t.dtype.is_float() || t.dtype == DType::F64 {
            return Err(Error::unsupported(format!("is {}; adapters carry f32, f16 or bf16", t.dtype)).tensor(&t.name));
        }
        Ok(i)
    }
}

/// A PiSSA pair's init halves `(B₀, A₀)`, widened, checked to match the adapter's shapes.
fn init_pair(w: &Tensor, p: &Pair, init: &TorchCheckpoint) -> Result<(Vec<f32>, Vec<f32>)> {
    let prefix = w.name.strip_suffix(".weight").expect("paired with a .weight");
    let half = |ab: char| -> Result<&Tensor> {
        let names = [format!("{prefix}.init_lora_{ab}"), format!("model.{prefix}.init_lora_{ab}")];
        init.tensors.iter().find(|t| names.contains(&t.name)).ok_or_else(|| {
            Error::not_rwkv(format!("the PiSSA init file has no {}", names[0])).at(&init.path).tensor(&p.a.name)
        })
    };
    let (a0, b0) = (half('A')?, half('B')?);
    if a0.shape != p.a.shape || b0.shape != p.b.shape {
        return Err(Error::corrupt(format!(
            "init B₀ {} · A₀ {} differ in shape from the adapter's B {} · A {}",
            b0.shape_string(),
            a0.shape_string(),
            p.b.shape_string(),
            p.a.shape_string()
        ))
        .at(&init.path)
        .tensor(&a0.name));
    }
    let at = |e: Error| e.at(&init.path);
    Ok((b0.to_f32().map_err(at)?, a0.to_f32().map_err(at)?))
}

/// What one pair adds to its matrix: `scale·(B·A)`, after taking a PiSSA init `B₀·A₀` away.
struct Product {
    /// `B` [out, r] and `A` [r, in], row-major.
    b: Vec<f32>,
    a: Vec<f32>,
    scale: f32,
    init: Option<(Vec<f32>, Vec<f32>)>,
}

impl Product {
    /// `W'` of `w` [out, in], stored as `dtype` into `out`, rows in parallel. Each row as torch
    /// computes `W + (B @ A) * s`: the product summed over r in order, scaled, then added; for
    /// PiSSA, `bf16(W − B₀ @ A₀)` first. Non-finite results, or ones `dtype` cannot hold, are
    /// refused.
    fn merge_into(&self, w: &Tensor, dtype: DType, out: &mut [u8]) -> Result<()> {
        let cols = w.shape[1];
        let r = self.a.len() / cols;
        let es = dtype.size();
        out.par_chunks_mut(cols * es).enumerate().try_for_each_init(
            || vec![0f32; cols],
            |acc, (i, out_row)| {
                let mut row = w.row_f32(i, cols)?;
                if let Some((b0, a0)) = &self.init {
                    sum_products(acc, &b0[i * r..(i + 1) * r], a0);
                    row.iter_mut().zip(acc.iter()).for_each(|(y, &s)| *y = bf16::from_f32(*y - s).to_f32());
                }
                sum_products(acc, &self.b[i * r..(i + 1) * r], &self.a);
                row.iter_mut().zip(acc.iter()).for_each(|(y, &s)| *y += s * self.scale);
                check_merged(&row, dtype).map_err(|(j, v)| {
                    Error::corrupt(format!(
                        "the merged value at element {} is {v}, which {dtype} cannot hold: the adapter (or its α) \
                         is far off",
                        i * cols + j
                    ))
                    .tensor(&w.name)
                })?;
                crate::emit::encode_into(&row, dtype.ggml_equivalent().expect("a float type"), out_row);
                Ok(())
            },
        )
    }
}

/// `acc = Σ_k b[k]·a[k, :]`, k in order.
fn sum_products(acc: &mut [f32], b: &[f32], a: &[f32]) {
    acc.fill(0.0);
    for (&bk, a_row) in b.iter().zip(a.chunks_exact(acc.len())) {
        acc.iter_mut().zip(a_row).for_each(|(s, &x)| *s += bk * x);
    }
}

/// The first value that is not finite or does not fit `dtype`: its index and value.
fn check_merged(values: &[f32], dtype: DType) -> std::result::Result<(), (usize, f32)> {
    let limit = if dtype == DType::F16 { 65504.0 } else { f32::MAX };
    match values.iter().position(|v| !v.is_finite() || v.abs() > limit) {
        None => Ok(()),
        Some(j) => Err((j, values[j])),
    }
}
