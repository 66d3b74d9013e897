//! The GPT-NeoX-20B tokenizer (RWKV-4 Pile models) against Hugging Face's Python `tokenizers` on
//! the same file (golden/tokenizer/expected_neox.json, made by
//! golden/tokenizer/make_neox_golden.py): the golden corpus whole and by paragraph, and every
//! LAMBADA document as the evaluation splits it (when ../shared is there).

mod common;

use common::{hex, ids, ids_hash16, tokenizer_golden};
use reference::tokenizer::BpeTokenizer;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::Path;

fn expected() -> (std::path::PathBuf, Value) {
    tokenizer_golden("expected_neox.json")
}

#[test]
fn the_corpus_encodes_as_python_tokenizers_does_and_decodes_back() {
    let (dir, e) = expected();
    let t = BpeTokenizer::neox();
    assert_eq!(hex(&Sha256::digest(convert::vocab::NEOX_TOKENIZER_JSON)), e["tokenizer_sha256"].as_str().unwrap());
    assert_eq!(t.len(), e["vocab_size"].as_u64().unwrap() as usize);
    let corpus = String::from_utf8(std::fs::read(dir.join("corpus.txt")).unwrap()).unwrap();
    let whole = t.encode(&corpus).unwrap();
    assert_eq!(whole, ids(&e["corpus_ids"]), "the whole corpus");
    // Decoding gives back the text the tokenizer saw: re-encoding it gives the same ids.
    assert_eq!(t.encode(&t.decode(&whole).unwrap()).unwrap(), whole, "decode then encode");
    // Token by token (how `run` streams), the bytes are those of the decoded text.
    let streamed: Vec<u8> = whole.iter().flat_map(|&id| t.token_bytes(id).to_vec()).collect();
    assert_eq!(String::from_utf8(streamed).unwrap(), t.decode(&whole).unwrap(), "token bytes");
    let spaces = t.encode("a      b").unwrap();
    assert!(spaces.iter().any(|&id| id >= 50254), "a run of spaces is an added token: {spaces:?}");
    let streamed: Vec<u8> = spaces.iter().flat_map(|&id| t.token_bytes(id).to_vec()).collect();
    assert_eq!(streamed, b"a      b");
    let cases = e["cases"].as_array().unwrap();
    let bad: Vec<&str> = cases
        .iter()
        .filter(|c| t.encode(c["text"].as_str().unwrap()).unwrap() != ids(&c["ids"]))
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(bad.is_empty(), "{} of {} paragraphs differ: {:?}", bad.len(), cases.len(), &bad[..bad.len().min(10)]);
}

#[test]
fn every_lambada_document_encodes_as_python_tokenizers_does() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/lambada_test.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipped: {} is not here (the shared data folder is absent)", path.display());
        return;
    };
    let (_, e) = expected();
    let want = e["lambada"].as_array().unwrap();
    let t = BpeTokenizer::neox();
    let docs: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(docs.len(), want.len());
    for (i, (doc, w)) in docs.iter().zip(want).enumerate() {
        let cut = doc.rfind(' ').unwrap();
        let (ctx, tgt) = (&doc[..cut], &doc[cut..]);
        let c = t.encode(ctx).unwrap();
        assert_eq!(c.len() as u64, w["n_ctx"].as_u64().unwrap(), "document {i}: context length");
        assert_eq!(ids_hash16(&c), w["ctx_sha256_16"].as_str().unwrap(), "document {i}: context ids");
        assert_eq!(t.encode(tgt).unwrap(), ids(&w["tgt"]), "document {i}: target ids");
    }
}
