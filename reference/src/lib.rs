//! The reference engine: RWKV-4..7 in f32 on ndarray, as the official `rwkv` package computes
//! them in `cpu fp32`. It reads a canonical `convert::Model` and nothing else. One file per
//! version, each one implementation of [`Rwkv`]; WKV kernels in [`wkv`] (plain and fast);
//! matrices read where they are stored ([`linear`]) through dot kernels per storage type
//! ([`kernels`], [`qkernels`]) and the prefill GEMM ([`gemm`]). [`Engine`] holds any version and
//! runs its passes on the rayon pool; a caller that wants importance statistics passes an
//! [`imatrix::Observer`].

mod channel_mix;
pub mod compare;
pub mod eval;
pub mod gemm;
pub mod imatrix;
pub mod kernels;
pub mod linear;
pub mod ops;
pub mod qkernels;
pub mod rowgemm;
pub mod rwkv;
pub mod sample;
pub mod state;
pub mod tokenizer;
pub mod v4;
pub mod v5;
pub mod v6;
pub mod v7;
pub mod weights;
pub mod wkv;

use convert::arch::Version;
use convert::{DType, Model, Result};
use ndarray::{Array2, ArrayView2};
pub use rwkv::Rwkv;
pub use state::State;
use weights::Weights;
pub use wkv::Kernel;

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Apply `blocks.0.ln0` to the embedding in pure f32. By default v4–v6 round it to the file's
    /// dtype as the official package does (it folds ln0 into the table before widening).
    pub pure_f32_ln0: bool,
}

impl Options {
    fn ln0_rounding(&self, w: &Weights) -> Result<Option<DType>> {
        if self.pure_f32_ln0 {
            return Ok(None);
        }
        let emb = w.tensor("emb.weight")?.dtype;
        // torch only runs the LayerNorm in the file's dtype when ln0 has that dtype too.
        Ok((w.tensor("blocks.0.ln0.weight")?.dtype == emb).then_some(emb))
    }
}

/// A loaded model of any version.
pub struct Engine {
    model: Box<dyn Rwkv>,
    version: Version,
    /// What [`Engine::new_state`] starts from when not the model's own (a state-tuned state).
    initial: Option<State>,
}

impl Engine {
    pub fn load(model: &Model, options: &Options) -> Result<Engine> {
        let (model_file, version) = (model, model.version);
        let model: Box<dyn Rwkv> = match version {
            Version::V4 => Box::new(v4::RwkvV4::load(model, options)?),
            Version::V5_0 | Version::V5_1 | Version::V5_2 => Box::new(v5::RwkvV5::load(model, options)?),
            Version::V6 => Box::new(v6::RwkvV6::load(model, options)?),
            Version::V7 => Box::new(v7::RwkvV7::load(model)?),
        };
        let mut engine = Engine { model, version, initial: None };
        // A state-tuned model file starts from its own states, as the package starts v5/v6 ones.
        if let Some(tuned) = convert::tuning::TunedState::of_model(model_file)? {
            engine.initial = Some(engine.tuned_state(&tuned));
        }
        Ok(engine)
    }

    /// The state every sequence starts from: zeros, a state-tuned model file's own `time_state`,
    /// or the one [`Engine::start_from`] set.
    pub fn new_state(&self) -> State {
        self.initial.clone().unwrap_or_else(|| self.model.new_state())
    }

    /// Start every sequence from `state` (shaped as [`Engine::new_state`]'s) from now on.
    pub fn start_from(&mut self, state: State) {
        let fresh = self.model.new_state();
        assert!(
            state.tensors.iter().map(|t| t.shape()).eq(fresh.tensors.iter().map(|t| t.shape())),
            "a state of this model's shapes"
        );
        self.initial = Some(state);
    }

    /// The state a state-tuning file gives this model: its trained WKV states in the engine's
    /// layout, token shifts zero. The file must fit the model ([`TunedState::check`]).
    pub fn tuned_state(&self, tuned: &convert::tuning::TunedState) -> State {
        State::from_tuned(&self.model.new_state(), self.version, tuned)
    }

    /// Run `tokens` from `state` (moving it past them) and return the final hidden state of every
    /// position, after `ln_out` [T, C]. One token runs as GEMVs, several as GEMMs.
    pub fn hidden(&self, tokens: &[u32], state: &mut State) -> Array2<f32> {
        on_pool(|| self.model.forward(tokens, state, None))
    }

    /// [`Engine::hidden`], every product of a named matrix shown to `observer` (importance
    /// statistics: [`imatrix::Recorder`]).
    pub fn hidden_observed(&self, tokens: &[u32], state: &mut State, observer: &dyn imatrix::Observer) -> Array2<f32> {
        on_pool(|| self.model.forward(tokens, state, Some(observer)))
    }

    /// Several independent sequences, each from its own state: their hidden states stacked
    /// `[ΣT, C]`, sequence after sequence. RWKV-7 runs them as one stacked pass (every projection
    /// one GEMM over all the tokens); the other versions one after another.
    pub fn hidden_batch(&self, seqs: &[&[u32]], states: &mut [State]) -> Array2<f32> {
        assert_eq!(seqs.len(), states.len(), "one state per sequence");
        on_pool(|| self.model.forward_batch(seqs, states, None))
    }

    /// Logits for hidden rows: `h·headᵀ` [T, V].
    pub fn head(&self, hidden: ArrayView2<f32>) -> Array2<f32> {
        on_pool(|| self.model.head().forward(hidden, None))
    }

    /// [`Engine::head`], its product shown to `observer`.
    pub fn head_observed(&self, hidden: ArrayView2<f32>, observer: &dyn imatrix::Observer) -> Array2<f32> {
        on_pool(|| self.model.head().forward(hidden, Some(observer)))
    }

    /// Sequence mode: all tokens at once; logits at every position.
    pub fn logits_seq(&self, tokens: &[u32], state: &mut State) -> Array2<f32> {
        self.head(self.hidden(tokens, state).view())
    }

    /// Token mode: one token at a time; logits at every position.
    pub fn logits_tok(&self, tokens: &[u32], state: &mut State) -> Array2<f32> {
        let mut out = Array2::zeros((tokens.len(), self.vocab()));
        for (i, &t) in tokens.iter().enumerate() {
            let l = self.head(self.hidden(&[t], state).view());
            out.row_mut(i).assign(&l.row(0));
        }
        out
    }

    pub fn vocab(&self) -> usize {
        self.model.vocab()
    }

    pub fn set_kernel(&mut self, kernel: Kernel) {
        self.model.set_kernel(kernel)
    }
}

/// Run `f` on one of rayon's threads (in place when already on one). A forward pass runs ~100
/// parallel loops per token; from a thread outside the pool each would be handed over and waited
/// for (a futex sleep and wake-up each: 16% of a 1-thread decode), from inside they split with
/// `join`. Only the engine's own work runs there, which never waits on anything but the pool.
///
/// Meanwhile the pool's other threads stay awake ([`linger`]): between two loops of a token there
/// are only microseconds of serial work, and a worker put to sleep there has to be woken for the
/// next one (~9% of a 2-thread decode went to the scheduler).
fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = &AtomicBool::new(false);
    rayon::scope(|s| {
        if rayon::current_num_threads() > 1 {
            let me = rayon::current_thread_index();
            s.spawn_broadcast(move |_, ctx| {
                if Some(ctx.index()) != me {
                    linger(done)
                }
            });
        }
        let r = f();
        done.store(true, Ordering::Release);
        r
    })
}

/// Run the pool's pending work until `done`, or until none has come for a millisecond: a bound,
/// so a thread that took this up while one of its own jobs waited below it (rayon runs queued
/// work while a job waits) soon returns to that job.
fn linger(done: &std::sync::atomic::AtomicBool) {
    use std::time::{Duration, Instant};
    let mut last = Instant::now();
    let mut idle = 0u32;
    while !done.load(std::sync::atomic::Ordering::Acquire) {
        if rayon::yield_now() == Some(rayon::Yield::Executed) {
            idle = 0;
        } else {
            // The clock only now and then: reading it costs more than a look for work.
            idle += 1;
            if idle == 1 {
                last = Instant::now();
            } else if idle.is_multiple_of(64) && last.elapsed() > Duration::from_millis(1) {
                return;
            }
            std::hint::spin_loop();
        }
    }
}
