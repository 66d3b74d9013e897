//! `rwkv-convert release MODEL --name NAME --out DIR`: the whole GGUF set a publisher ships, from
//! one read of the source: every file, its tensor types, its measured quality, a model card and a
//! checksum manifest. Resumable: a file whose manifest entry still matches is not made again, and
//! files appear only when complete.

mod card;
mod variants;

use super::manifest::{digest, FileEntry, Manifest, SourceEntry};
use super::quality::{baseline, measure, Baseline, EvalArgs, EvalInputs, Measured};
use anyhow::{bail, Context, Result};
use convert::gguf::export::plan;
use convert::gguf::imatrix::Imatrix;
use convert::gguf::{requantize, GgufFile};
use convert::Model;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
pub use variants::{Variant, DEFAULT_SET};

#[derive(clap::Args)]
pub struct Args {
    /// The source: a `.pth` checkpoint, an HF/fla folder or a float GGUF.
    #[arg(required_unless_present = "list")]
    pub model: Option<PathBuf>,
    /// The set's name; files are `NAME-TYPE.gguf`.
    #[arg(long, required_unless_present = "list")]
    pub name: Option<String>,
    /// The release folder (created if missing).
    #[arg(long, required_unless_present = "list")]
    pub out: Option<PathBuf>,
    /// Comma-separated variants (default: the published set). Every llama-quantize file type
    /// (iq1_s … q8_0; the IQ1/IQ2 types, iq3_xxs and q2_k_s need an imatrix) and RWKV-aware
    /// mixes: `--list`.
    #[arg(long, value_delimiter = ',')]
    pub types: Option<Vec<String>>,
    /// List the variants and exit.
    #[arg(long)]
    pub list: bool,
    /// Also write the HF/fla folder (`DIR/hf`).
    #[arg(long)]
    pub hf: bool,
    /// An importance matrix (llama.cpp GGUF or .dat) for the K and IQ types.
    #[arg(long, conflicts_with = "calibrate")]
    pub imatrix: Option<PathBuf>,
    /// Compute the importance matrix with the reference engine on this text (saved as NAME.imatrix.gguf).
    #[arg(long)]
    pub calibrate: Option<PathBuf>,
    #[command(flatten)]
    pub eval: EvalArgs,
    /// Files made at once (each one's rows are quantized on all threads either way).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Make every file again, even where the manifest matches.
    #[arg(long)]
    pub force: bool,
    /// Card metadata: the license of the weights.
    #[arg(long, default_value = "apache-2.0")]
    pub license: String,
    /// Card metadata: the base model's hub id.
    #[arg(long)]
    pub base_model: Option<String>,
}

fn style(t: &str) -> ProgressStyle {
    ProgressStyle::with_template(t).expect("template")
}

/// Everything the workers share.
struct Job<'a> {
    model: &'a Model,
    dir: &'a Path,
    name: &'a str,
    source_id: String,
    base: Option<PathBuf>,
    imatrix: Option<(Imatrix, String)>,
    manifest: Mutex<Manifest>,
    force: bool,
    /// Quantized files finished so far: their tensor plan (and whether importance data went in).
    plans: Mutex<Vec<(Plan, String)>>,
}

type Plan = (Vec<(usize, quantize::GgmlType)>, bool);

impl Job<'_> {
    fn recipe(&self, v: &Variant) -> String {
        let im = match (&self.imatrix, v.uses_imatrix()) {
            (Some((_, id)), true) => format!(", imatrix {id}"),
            _ => String::new(),
        };
        format!("{} from {} by rwkv-convert {}{im}", v.describe(), self.source_id, env!("CARGO_PKG_VERSION"))
    }

    /// Whether `file` is on disk exactly as the manifest says, made by `recipe`.
    fn up_to_date(&self, file: &str, recipe: &str) -> Result<bool> {
        if self.force {
            return Ok(false);
        }
        let entry = self.manifest.lock().expect("manifest").entry(file).cloned();
        let Some(e) = entry else { return Ok(false) };
        let p = self.dir.join(file);
        Ok(e.recipe == recipe && p.exists() && digest(&p)? == e.digests)
    }

    fn record(&self, file: &str, recipe: &str) -> Result<()> {
        self.record_twin(file, recipe, None)
    }

    fn record_twin(&self, file: &str, recipe: &str, same_tensors_as: Option<String>) -> Result<()> {
        let d = digest(&self.dir.join(file))?;
        let mut m = self.manifest.lock().expect("manifest");
        let measured = m.entry(file).filter(|e| e.digests == d).and_then(|e| e.measured.clone());
        m.upsert(FileEntry { file: file.into(), digests: d, recipe: recipe.into(), same_tensors_as, measured });
        m.save(self.dir)
    }

    /// Make one variant's GGUF and its tensor-type list.
    fn make(&self, v: &Variant, bar: &ProgressBar) -> Result<()> {
        let file = v.file_name(self.name);
        let recipe = self.recipe(v);
        let out = self.dir.join(&file);
        let base = match v.float() {
            Some(_) => None,
            None => Some(GgufFile::open(self.base.as_ref().expect("a base for quantized variants"))?),
        };
        let rules = v.rules();
        let quant = v.quantized().map(|(ftype, overrides)| requantize::Recipe {
            ftype,
            overrides,
            rules: &rules,
            imatrix: self.imatrix.as_ref().filter(|_| v.uses_imatrix()).map(|(m, _)| m),
        });
        let tensor_plan: Option<Plan> =
            base.as_ref().zip(quant.as_ref()).map(|(b, r)| (requantize::recipe_plan(b, r), r.imatrix.is_some()));
        let remember = || {
            if let Some(p) = &tensor_plan {
                self.plans.lock().expect("plans").push((p.clone(), file.clone()));
            }
        };
        if self.up_to_date(&file, &recipe)? && self.up_to_date(&v.types_file(self.name), &recipe)? {
            remember();
            bar.finish_with_message(format!("{file}: up to date"));
            return Ok(());
        }
        bar.set_message(file.clone());
        let twin = tensor_plan
            .as_ref()
            .and_then(|p| self.plans.lock().expect("plans").iter().find(|(q, _)| q == p).map(|(_, f)| f.clone()));
        let types: Vec<(String, String)> = match v.float() {
            Some(float) => {
                let (writer, tensors) = plan(self.model, float, self.name)?;
                bar.set_length(tensors.len() as u64);
                writer.write(&out, true, &tensors, |i| bar.set_position(i as u64 + 1))?;
                tensors.iter().map(|t| (t.name.clone(), t.ty.name().to_string())).collect()
            }
            None => {
                let base = base.as_ref().expect("opened above");
                bar.set_length(base.tensors.len() as u64);
                let twin_file = twin.as_ref().map(|f| GgufFile::open(&self.dir.join(f))).transpose()?;
                let r = quant.as_ref().expect("quantized");
                requantize::write_recipe(base, &out, r, twin_file.as_ref(), true, |i| bar.set_position(i as u64 + 1))?
                    .into_iter()
                    .map(|(n, t)| (n, t.name().to_string()))
                    .collect()
            }
        };
        let map: serde_json::Map<String, serde_json::Value> =
            types.into_iter().map(|(n, t)| (n, serde_json::Value::String(t))).collect();
        write_text(&self.dir.join(v.types_file(self.name)), &(serde_json::to_string_pretty(&map)? + "\n"))?;
        self.record(&v.types_file(self.name), &recipe)?;
        self.record_twin(&file, &recipe, twin)?;
        remember();
        bar.finish_with_message(format!("{file}: done"));
        Ok(())
    }
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    let mut f = convert::output::AtomicFile::create(path, true)?;
    f.write_all(text.as_bytes())?;
    Ok(f.finish()?)
}

/// A run killed mid-way leaves temporary files (`.NAME.tmp-PID`) behind; clear ours.
fn remove_stale_temporaries(dir: &Path, name: &str) -> Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let f = e?.file_name().to_string_lossy().into_owned();
        let ours = f.starts_with(&format!(".{name}"))
            || f.starts_with(".manifest.json")
            || f.starts_with(".README.md")
            || f.starts_with(".SHA256SUMS")
            || f.starts_with(".B3SUMS");
        if ours && (f.contains(".tmp-") || f.contains(".base-")) {
            std::fs::remove_file(dir.join(&f)).with_context(|| format!("removing {f}"))?;
            n += 1;
        }
    }
    Ok(n)
}

/// The source's identity: blake3 of the file, or of a folder's files in name order.
fn source_entry(path: &Path) -> Result<SourceEntry> {
    let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
    if !path.is_dir() {
        return Ok(SourceEntry { file, digests: digest(path)?, adapters: Vec::new() });
    }
    let mut names: Vec<PathBuf> =
        std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    names.sort();
    let (mut b3, mut sha, mut bytes) = (blake3::Hasher::new(), sha2::Sha256::default(), 0u64);
    for p in names {
        let d = digest(&p)?;
        let line = format!("{} {} {}\n", d.blake3, d.sha256, p.file_name().unwrap_or_default().to_string_lossy());
        b3.update(line.as_bytes());
        sha2::Digest::update(&mut sha, line.as_bytes());
        bytes += d.bytes;
    }
    let digests = super::manifest::Digests {
        bytes,
        blake3: b3.finalize().to_hex().to_string(),
        sha256: format!("{:x}", sha2::Digest::finalize(sha)),
    };
    Ok(SourceEntry { file, digests, adapters: Vec::new() })
}

/// What `--lora` merged into the source, for the manifest (and so for every recipe).
fn adapter_entries(args: &super::ModelArgs) -> Result<Vec<super::manifest::AdapterEntry>> {
    let name = |p: &Path| p.file_name().unwrap_or_default().to_string_lossy().into_owned();
    args.adapters()?
        .iter()
        .map(|a| {
            let init =
                a.pissa_init.as_ref().map(|p| Ok::<_, anyhow::Error>((name(p), digest(p)?.blake3))).transpose()?;
            Ok(super::manifest::AdapterEntry {
                file: name(&a.path),
                blake3: digest(&a.path)?.blake3,
                kind: if init.is_some() { "pissa" } else { "lora" }.to_string(),
                alpha: init.is_none().then(|| a.alpha.unwrap_or(convert::tuning::lora::DEFAULT_ALPHA)),
                init,
            })
        })
        .collect()
}

impl Args {
    // clap requires these unless --list is given, and --list returns before they are read.
    fn model(&self) -> &Path {
        self.model.as_deref().expect("MODEL (clap)")
    }
    fn name(&self) -> &str {
        self.name.as_deref().expect("--name (clap)")
    }
    fn out(&self) -> &Path {
        self.out.as_deref().expect("--out (clap)")
    }
}

pub fn run(args: Args) -> Result<()> {
    if args.list {
        for v in variants::all() {
            super::out(&format!(
                "{:<14} {}{}\n",
                v.suffix,
                v.describe(),
                if DEFAULT_SET.contains(&v.suffix) { "  (default)" } else { "" }
            ));
        }
        return Ok(());
    }
    let names: Vec<String> = args.types.clone().unwrap_or_else(|| DEFAULT_SET.iter().map(|s| s.to_string()).collect());
    let set: Vec<Variant> = names
        .iter()
        .map(|n| variants::find(n).with_context(|| format!("unknown variant {n}; see `rwkv-convert release --list`")))
        .collect::<Result<_>>()?;
    let needy: Vec<&str> = set.iter().filter(|v| v.needs_imatrix()).map(|v| v.suffix).collect();
    if !needy.is_empty() && args.imatrix.is_none() && args.calibrate.is_none() {
        bail!("{} need an importance matrix: pass --imatrix FILE or --calibrate TEXT", needy.join(", "));
    }
    if args.name().is_empty() || args.name().contains(['/', '\\']) || args.name().starts_with('.') {
        bail!("--name {:?} must be a plain file-name prefix", args.name());
    }
    let dir = args.out();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stale = remove_stale_temporaries(dir, args.name())?;
    if stale > 0 {
        eprintln!("removed {stale} temporary files left by an interrupted run");
    }
    let model = args.eval.model.open(args.model())?;
    super::note_states_not_written(&model);
    let mut source = source_entry(args.model())?;
    source.adapters = adapter_entries(&args.eval.model)?;
    let mut manifest = match Manifest::load(dir)? {
        Some(m) if !args.force && m.source.as_ref() == Some(&source) && m.name == args.name() => m,
        Some(_) if !args.force => bail!(
            "{} holds a release of another source or name; pass --force to replace it, or choose another --out",
            dir.display()
        ),
        _ => Manifest::default(),
    };
    manifest.tool = format!("rwkv-convert {}", env!("CARGO_PKG_VERSION"));
    manifest.name = args.name().to_string();
    manifest.source = Some(source.clone());
    let mut source_id = format!("{} (blake3 {})", source.file, &source.digests.blake3[..16]);
    for a in &source.adapters {
        let alpha = a.alpha.map_or(String::new(), |x| format!(", α {x}"));
        source_id += &format!(" + {} {} (blake3 {}{alpha})", a.kind, a.file, &a.blake3[..16]);
    }

    let multi = MultiProgress::new();
    let overall = multi.add(ProgressBar::new(set.len() as u64));
    overall.set_style(style("{msg:>12} {bar:40} {pos}/{len} files [{elapsed_precise}]"));
    overall.set_message("release");

    // The float file quantized variants start from.
    let base_float = convert::gguf::export::base_outtype(&model);
    let needs_base = set.iter().any(|v| v.float().is_none());
    let base_variant = set.iter().find(|v| v.float() == Some(base_float)).cloned();
    let job = Job {
        model: &model,
        dir,
        name: args.name(),
        source_id,
        base: None,
        imatrix: None,
        manifest: Mutex::new(manifest),
        force: args.force,
        plans: Mutex::new(Vec::new()),
    };
    let mut job = job;

    // 1. The base float file, first (a release file when in the set, else a temporary).
    let bar = |msg: &str| {
        let b = multi.insert_before(&overall, ProgressBar::new(0));
        b.set_style(style("{msg:>12} {bar:40} {pos}/{len} tensors [{elapsed_precise}]"));
        b.set_message(msg.to_string());
        b
    };
    let mut temp_base = None;
    if needs_base {
        match &base_variant {
            Some(v) => {
                job.make(v, &bar(&v.suffix))?;
                overall.inc(1);
                job.base = Some(dir.join(v.file_name(args.name())));
            }
            None => {
                let b = bar("base");
                let p = convert::gguf::export::write_base(
                    &model,
                    dir,
                    args.name(),
                    |n| b.set_length(n as u64),
                    |i| b.set_position(i as u64 + 1),
                )?;
                b.finish_and_clear();
                job.base = Some(p.path().to_path_buf());
                temp_base = Some(p);
            }
        }
    }

    // 2. The importance matrix.
    if let Some(p) = &args.imatrix {
        let id = digest(p)?.blake3[..16].to_string();
        job.imatrix =
            Some((Imatrix::load(p)?, format!("{} (blake3 {id})", p.file_name().unwrap_or_default().to_string_lossy())));
    } else if let Some(text) = &args.calibrate {
        let file = format!("{}.imatrix.gguf", args.name());
        let text_id = digest(text)?.blake3[..16].to_string();
        let recipe = format!(
            "reference-engine imatrix of {} on {} (blake3 {text_id}), 512-token chunks by rwkv-convert {}",
            job.source_id,
            text.file_name().unwrap_or_default().to_string_lossy(),
            env!("CARGO_PKG_VERSION")
        );
        if !job.up_to_date(&file, &recipe)? {
            let b = bar("imatrix");
            b.set_style(style("{msg:>12} {bar:40} {pos}/{len} chunks [{elapsed_precise}]"));
            let engine = reference::Engine::load(&model, &Default::default())?;
            let tokens = super::text_tokens(&model, text, usize::MAX)?;
            super::imatrix::compute(
                &model,
                &engine,
                &tokens,
                512,
                false,
                &text.display().to_string(),
                &dir.join(&file),
                true,
                |i, n| {
                    b.set_length(n as u64);
                    b.set_position(i as u64)
                },
            )?;
            b.finish_and_clear();
            job.record(&file, &recipe)?;
        }
        job.imatrix = Some((
            Imatrix::load(&dir.join(&file))?,
            format!("{file} (blake3 {})", &digest(&dir.join(&file))?.blake3[..16]),
        ));
    }

    // 3. Every other file, `--jobs` at a time.
    let rest: Vec<&Variant> = set
        .iter()
        .filter(|v| Some(v.suffix) != base_variant.as_ref().filter(|_| needs_base).map(|b| b.suffix))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..args.jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(v) = rest.get(i) else { break };
                if let Err(e) = job.make(v, &bar(v.suffix)) {
                    errors.lock().expect("errors").push(e);
                    break;
                }
                overall.inc(1);
            });
        }
    });
    drop(temp_base);
    if let Some(e) = errors.into_inner().expect("errors").into_iter().next() {
        return Err(e);
    }

    // 4. The optional HF/fla folder.
    if args.hf {
        make_hf(&job, &model)?;
    }

    // 5. Quality, against the source.
    let inputs = args.eval.inputs(&model)?;
    // A source with its own tuned states runs from them, and so every file is measured from them.
    let state = args.eval.state.as_deref().or(model.hparams.has_time_state.then_some(args.model()));
    let mut evaluation = (!inputs.describe.is_empty()).then(|| inputs.describe.clone());
    if let (Some(e), Some(p)) = (&mut evaluation, state) {
        let id = &digest(p)?.blake3[..16];
        *e += &format!(", from the state {} (blake3 {id})", p.file_name().unwrap_or_default().to_string_lossy());
    }
    let mut source_measured = None;
    if evaluation.is_some() {
        source_measured = Some(measure_all(&job, &set, &model, &inputs, &evaluation, state, &multi)?);
    }

    // 6. The card, then the manifest over everything.
    let mut m = job.manifest.into_inner().expect("manifest");
    m.evaluation = evaluation;
    let card = card::render(&card::CardInput {
        name: args.name(),
        model: &model,
        set: &set,
        manifest: &m,
        source: source_measured.as_ref(),
        license: &args.license,
        base_model: args.base_model.as_deref(),
        imatrix: job.imatrix.as_ref().map(|(_, id)| id.as_str()),
        hf: args.hf,
    });
    write_text(&dir.join("README.md"), &card)?;
    let d = digest(&dir.join("README.md"))?;
    m.upsert(FileEntry {
        file: "README.md".into(),
        digests: d,
        recipe: "model card".into(),
        same_tensors_as: None,
        measured: None,
    });
    let order = |f: &str| set.iter().position(|v| f.starts_with(&v.file_name(args.name()))).unwrap_or(set.len());
    m.files.sort_by(|a, b| (order(&a.file), &a.file).cmp(&(order(&b.file), &b.file)));
    m.save(dir)?;
    overall.finish_and_clear();
    eprintln!("{}: {} files, card and manifest written", dir.display(), m.files.len());
    Ok(())
}

/// The source and every file scored on the evaluation inputs; files already measured on the
/// same inputs keep their figures.
fn measure_all(
    job: &Job,
    set: &[Variant],
    model: &Model,
    inputs: &EvalInputs,
    evaluation: &Option<String>,
    state: Option<&Path>,
    multi: &MultiProgress,
) -> Result<Measured> {
    let same_eval = job.manifest.lock().expect("manifest").evaluation == *evaluation;
    let todo: Vec<&Variant> = set
        .iter()
        .filter(|v| {
            let m = job.manifest.lock().expect("manifest");
            !(same_eval && m.entry(&v.file_name(job.name)).is_some_and(|e| e.measured.is_some()))
        })
        .collect();
    let bar = multi.add(ProgressBar::new(todo.len() as u64 + 1));
    bar.set_style(style("{msg:>12} {bar:40} {pos}/{len} models [{elapsed_precise}, eta {eta}]"));
    bar.set_message("measuring");
    let mut engine = reference::Engine::load(model, &Default::default())?;
    super::start_state(&mut engine, model, state)?;
    let base: Baseline = baseline(&engine, inputs);
    drop(engine);
    // The source's weights are not needed again: let their pages go, so that each file is
    // measured at about its own size.
    model.tensors.iter().for_each(|t| t.data.release_pages());
    let source = Measured {
        quality: base.reference.as_ref().map(|r| reference::compare::Quality {
            positions: r.positions(),
            kl_mean: 0.0,
            kl_p99: 0.0,
            kl_max: 0.0,
            top1_agreement: 1.0,
            ppl: r.ppl(),
            ppl_reference: r.ppl(),
        }),
        lambada: base.lambada.clone(),
    };
    bar.inc(1);
    for v in todo {
        let file = v.file_name(job.name);
        bar.set_message(v.suffix.to_string());
        // A file with another's tensor bytes runs identically: its figures are that file's.
        let twin_measured = {
            let m = job.manifest.lock().expect("manifest");
            let twin = m.entry(&file).and_then(|e| e.same_tensors_as.clone());
            twin.and_then(|t| m.entry(&t).and_then(|e| e.measured.clone()))
        };
        let measured = match twin_measured {
            Some(m) => m,
            None => {
                let (_, cand) = super::quality::load(&job.dir.join(&file), &Default::default(), state)?;
                measure(&base, inputs, &cand)?
            }
        };
        let mut m = job.manifest.lock().expect("manifest");
        if let Some(e) = m.files.iter_mut().find(|e| e.file == file) {
            e.measured = Some(measured);
        }
        m.evaluation = evaluation.clone();
        m.save(job.dir)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(source)
}

fn make_hf(job: &Job, model: &Model) -> Result<()> {
    use convert::hf::{write_folder, HfDtype, HfOptions};
    let recipe = format!("HF/fla folder from {} by rwkv-convert {}", job.source_id, env!("CARGO_PKG_VERSION"));
    let hf = job.dir.join("hf");
    let listed: Vec<String> = {
        let m = job.manifest.lock().expect("manifest");
        m.files.iter().filter(|e| e.file.starts_with("hf/")).map(|e| e.file.clone()).collect()
    };
    let mut fresh = !listed.is_empty();
    for f in &listed {
        fresh &= job.up_to_date(f, &recipe)?;
    }
    if fresh {
        return Ok(());
    }
    let opts = HfOptions {
        dtype: HfDtype::parse("keep").expect("keep"),
        max_shard_bytes: 2_000_000_000,
        force: true,
        remote_code_dir: None,
        context_length: None,
    };
    let files = write_folder(model, &hf, &opts, |_, _| {})?;
    for f in files {
        let rel = format!("hf/{}", f.strip_prefix(&hf).unwrap_or(&f).display());
        job.record(&rel, &recipe)?;
    }
    Ok(())
}
