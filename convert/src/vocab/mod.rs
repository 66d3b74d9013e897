//! Tokenizers as data: which vocabulary a model speaks, and what the writers embed for it.
//! RWKV World (`world.rs`) and byte-level BPE in Hugging Face JSON (`bpe.rs`; the GPT-NeoX-20B
//! tokenizer of the RWKV-4 Pile models). A GGUF or HF folder names its own; a `.pth` has none,
//! so its vocabulary size decides ([`Vocab::by_rows`]), and `--tokenizer` overrides either.
//! Tokenizing text is the engine's job (`reference::tokenizer`).

pub mod bpe;
pub mod world;

pub use bpe::{BpeVocab, TokenKind};
pub use world::{parse, python_bytes_repr_inner, world, WORLD_VOCAB};

use std::path::Path;
use std::sync::{Arc, OnceLock};

const NEOX_NAME: &str = "GPT-NeoX-20B";

/// The GPT-NeoX-20B tokenizer of the RWKV-4 Pile models, as Hugging Face `tokenizers` JSON
/// (`convert/vocab/20B_tokenizer.json`; origin and licences in `convert/vocab/NOTICE.md`).
pub const NEOX_TOKENIZER_JSON: &[u8] = include_bytes!("../../vocab/20B_tokenizer.json");

/// GPT-NeoX-20B's ids; its models pad the embedding up to 50304 (RWKV-7 Pile) or 50432
/// (GPT-NeoX-20B itself).
pub const NEOX_IDS: usize = 50277;
const NEOX_MAX_ROWS: usize = 50432;

/// A model's vocabulary.
#[derive(Clone)]
pub enum Vocab {
    /// RWKV World (65,530 ids). A model with fewer rows (a test model) gets the first ones: what
    /// llama.cpp's converter makes of a vocabulary file cut to the model.
    World,
    /// A byte-level BPE tokenizer, GPT-NeoX-20B's or one from a file.
    Bpe(Arc<BpeVocab>),
}

impl std::fmt::Debug for Vocab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Vocab {
    /// The shipped GPT-NeoX-20B tokenizer.
    pub fn neox() -> Vocab {
        static NEOX: OnceLock<Arc<BpeVocab>> = OnceLock::new();
        Vocab::Bpe(
            NEOX.get_or_init(|| {
                Arc::new(BpeVocab::parse(NEOX_NAME, NEOX_TOKENIZER_JSON.to_vec()).expect("the shipped tokenizer"))
            })
            .clone(),
        )
    }

    /// A `tokenizer.json`; named GPT-NeoX-20B when it holds that vocabulary.
    pub fn from_json_file(path: &Path) -> Result<Vocab, String> {
        let json = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v = BpeVocab::parse(&path.display().to_string(), json).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(match Vocab::neox() {
            Vocab::Bpe(neox) if neox.same_vocabulary(&v) => {
                Vocab::Bpe(Arc::new(BpeVocab { name: neox.name.clone(), ..v }))
            }
            _ => Vocab::Bpe(Arc::new(v)),
        })
    }

    /// `--tokenizer world|neox|PATH/tokenizer.json`.
    pub fn from_arg(arg: &str) -> Result<Vocab, String> {
        match arg {
            "world" => Ok(Vocab::World),
            "neox" => Ok(Vocab::neox()),
            path => Vocab::from_json_file(Path::new(path)),
        }
    }

    /// The vocabulary a model of `rows` rows was released with: World for 65530 rows and up
    /// (65536 in every release), GPT-NeoX-20B for 50277 up to its padded 50432; else none.
    pub fn by_rows(rows: usize) -> Option<Vocab> {
        if rows >= world().len() {
            Some(Vocab::World)
        } else if (NEOX_IDS..=NEOX_MAX_ROWS).contains(&rows) {
            Some(Vocab::neox())
        } else {
            None
        }
    }

    /// "World", "GPT-NeoX-20B", or the file a BPE tokenizer came from.
    pub fn name(&self) -> String {
        match self {
            Vocab::World => "World".into(),
            Vocab::Bpe(b) => b.name.clone(),
        }
    }

    pub fn is_world(&self) -> bool {
        matches!(self, Vocab::World)
    }

    /// GPT-NeoX-20B's vocabulary (the shipped file, or a `tokenizer.json` with its tokens and
    /// merges, which [`Vocab::from_json_file`] names after it).
    pub fn is_neox(&self) -> bool {
        matches!(self, Vocab::Bpe(b) if b.name == NEOX_NAME)
    }

    /// Can a model of `rows` rows use it? Every id must have a row; World is cut to a test
    /// model's rows (text then needs at least 257 of them: the engine checks that).
    pub fn check_fits(&self, rows: usize) -> Result<(), String> {
        match self {
            Vocab::Bpe(b) if b.len() > rows => {
                Err(format!("the {} tokenizer has {} ids but the model only {rows} rows", b.name, b.len()))
            }
            _ => Ok(()),
        }
    }
}

/// What a model file says about its tokenizer.
#[derive(Clone, Debug, Default)]
pub enum SourceVocab {
    /// Nothing (a `.pth`): the vocabulary size decides.
    #[default]
    None,
    Known(Vocab),
    /// A tokenizer this tool does not recognise, described for the error that asks for `--tokenizer`.
    Unknown(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_rows() {
        assert!(Vocab::by_rows(65536).is_some_and(|v| v.is_world()));
        assert!(Vocab::by_rows(65530).is_some_and(|v| v.is_world()));
        for rows in [50277, 50304, 50432] {
            assert_eq!(Vocab::by_rows(rows).unwrap().name(), "GPT-NeoX-20B");
        }
        for rows in [512, 50276, 50433, 65529] {
            assert!(Vocab::by_rows(rows).is_none(), "{rows}");
        }
    }

    #[test]
    fn fits() {
        assert!(Vocab::World.check_fits(512).is_ok());
        assert!(Vocab::neox().check_fits(50277).is_ok());
        assert!(Vocab::neox().check_fits(50276).unwrap_err().contains("50277 ids"));
    }
}
