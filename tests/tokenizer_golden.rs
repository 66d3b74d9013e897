//! The World tokenizer against the official `TRIE_TOKENIZER` (golden/tokenizer/expected.json, made
//! by golden/tokenizer/make_tokenizer_golden.py with rwkv 0.8.32).

mod common;

use common::{hex, ids, ids_hash16};
use reference::tokenizer::WorldTokenizer;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/tokenizer")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("expected.json")).unwrap()).unwrap()
}

#[test]
fn the_vocabulary_parses_to_the_official_bytes() {
    let e = expected();
    let t = WorldTokenizer::world();
    assert_eq!(hex(&Sha256::digest(reference::tokenizer::WORLD_VOCAB)), e["vocab_sha256"].as_str().unwrap());
    assert_eq!(t.len() - 1, e["vocab_entries"].as_u64().unwrap() as usize);
    let mut h = Sha256::new();
    for id in 1..t.len() as u32 {
        let b = t.token_bytes(id);
        h.update((b.len() as u32).to_le_bytes());
        h.update(b);
    }
    assert_eq!(hex(&h.finalize()), e["vocab_digest_sha256"].as_str().unwrap());
}

#[test]
fn encoding_matches_the_official_tokenizer() {
    let e = expected();
    let t = WorldTokenizer::world();
    let cases = e["cases"].as_array().unwrap();
    let mut bad = Vec::new();
    for c in cases {
        let text = c["text"].as_str().unwrap();
        if t.encode(text) != ids(&c["ids"]) {
            bad.push(c["name"].as_str().unwrap().to_string());
        }
    }
    assert!(bad.is_empty(), "{} of {} cases differ: {:?}", bad.len(), cases.len(), &bad[..bad.len().min(10)]);
    let corpus = std::fs::read(dir().join("corpus.txt")).unwrap();
    assert_eq!(t.encode_bytes(&corpus), ids(&e["corpus_ids"]), "the whole corpus in one go");
    for c in e["encode_bytes_cases"].as_array().unwrap() {
        let bytes: Vec<u8> = (0..c["bytes_hex"].as_str().unwrap().len() / 2)
            .map(|i| u8::from_str_radix(&c["bytes_hex"].as_str().unwrap()[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(t.encode_bytes(&bytes), ids(&c["ids"]), "{}", c["name"]);
    }
}

#[test]
fn decoding_is_lossless_at_the_byte_level() {
    let e = expected();
    let t = WorldTokenizer::world();
    let cases = e["decode_cases"].as_array().unwrap();
    assert!(cases.len() > 500);
    for c in cases {
        let bytes = t.decode_bytes(&ids(&c["ids"])).unwrap();
        assert_eq!(hex(&bytes), c["bytes_hex"].as_str().unwrap(), "{}", c["name"]);
        if c["valid_utf8"] == false {
            assert!(std::str::from_utf8(&bytes).is_err());
            assert!(t.decode_lossy(&ids(&c["ids"])).contains('\u{fffd}'));
        }
    }
    for c in e["decode_error_cases"].as_array().unwrap() {
        assert!(t.decode_bytes(&ids(&c["ids"])).is_err(), "{:?} must not decode", c["ids"]);
    }
}

/// BlinkDL's LAMBADA split of every document in ../shared/data/lambada_test.jsonl.
#[test]
fn lambada_contexts_and_targets_match() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/lambada_test.jsonl");
    if !path.exists() {
        println!("skipped: {} is absent (it comes with the project's shared folder)", path.display());
        return;
    }
    let e = expected();
    let want = e["lambada"].as_array().unwrap();
    let t = WorldTokenizer::world();
    let text = std::fs::read_to_string(&path).unwrap();
    let docs: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(docs.len(), want.len());
    let mut bad = 0;
    for (line, w) in docs.iter().zip(want) {
        let doc: Value = serde_json::from_str(line).unwrap();
        let text = doc["text"].as_str().unwrap();
        let cut = text.rfind(' ').unwrap();
        let (ctx, tgt) = (t.encode(&text[..cut]), t.encode(&text[cut..]));
        let full = t.encode(text);
        let ok = ctx.len() as u64 == w["n_ctx"].as_u64().unwrap()
            && ids_hash16(&ctx) == w["ctx_sha256_16"].as_str().unwrap()
            && tgt == ids(&w["tgt"])
            && ids_hash16(&full) == w["full_sha256_16"].as_str().unwrap();
        bad += !ok as usize;
    }
    assert_eq!(bad, 0, "{bad} of {} LAMBADA documents tokenize differently", docs.len());
}
