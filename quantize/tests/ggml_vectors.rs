//! Every block of every implemented type against ggml's own bytes (golden/quant, made by
//! golden/quant/make_quant_golden.py through llama.cpp's libggml, x86-64 build). Mismatches are
//! reported the way gguf-py's tests report them: share of bad blocks and the worst block.

use quantize::{dequantize, quantize, GgmlType};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../golden/quant")
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

struct Segments {
    /// (first value, rows, values per row)
    rows: Vec<(usize, usize, usize)>,
}

fn inputs(m: &Value) -> (Vec<f32>, Segments) {
    let x = f32s(&std::fs::read(dir().join("inputs.f32")).unwrap());
    let rows = m["inputs"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["offset_values"].as_u64().unwrap() as usize,
                s["rows"].as_u64().unwrap() as usize,
                s["n_per_row"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    (x, Segments { rows })
}

/// Compare block by block; returns (bad blocks, total blocks, worst block description).
fn compare(ty: GgmlType, ours: &[u8], theirs: &[u8]) -> (usize, usize, String) {
    let ts = ty.type_size();
    let mut bad = 0;
    let mut worst = (0usize, 0usize);
    for (i, (a, b)) in ours.chunks(ts).zip(theirs.chunks(ts)).enumerate() {
        let diff = a.iter().zip(b).filter(|(x, y)| x != y).count();
        if diff > 0 {
            bad += 1;
            if diff > worst.1 {
                worst = (i, diff);
            }
        }
    }
    (bad, theirs.len() / ts, format!("block {} differs in {} of {ts} bytes", worst.0, worst.1))
}

#[test]
fn implemented_types_match_ggml_block_for_block() {
    let m: Value = serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap()).unwrap();
    let (x, segs) = inputs(&m);
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (name, spec) in m["types"].as_object().unwrap() {
        let Some(ty) = GgmlType::from_name(spec["ggml_type_name"].as_str().unwrap_or(name)) else { continue };
        if !quantize::codec::is_supported(ty) || ty == GgmlType::F32 {
            report.push(format!("{name}: not implemented yet"));
            continue;
        }
        // F16/BF16 records list the bytes directly (the conversion of all inputs at once).
        let plain = if spec["plain"].is_null() { spec } else { &spec["plain"] };
        // Types ggml quantizes only with importance weights have no plain file (the weighted
        // test covers them).
        if plain["refused_by_ggml"].as_bool() == Some(true) {
            report.push(format!("{name}: ggml refuses it without importance weights"));
            continue;
        }
        let want = std::fs::read(dir().join(plain["bin"].as_str().unwrap())).unwrap();
        let mut ours = Vec::new();
        if spec["plain"].is_null() {
            ours = quantize(ty, &x).unwrap();
        } else {
            for &(start, rows, n) in &segs.rows {
                for r in 0..rows {
                    ours.extend(quantize(ty, &x[start + r * n..start + (r + 1) * n]).unwrap());
                }
            }
        }
        let (bad, total, worst) = compare(ty, &ours, &want);
        report.push(format!(
            "{name}: {bad}/{total} blocks differ{}",
            if bad > 0 { format!(" ({worst})") } else { String::new() }
        ));
        if bad > 0 {
            failures.push(name.clone());
        }
        // Dequantization of ggml's own bytes, bit for bit.
        if let Some(dq) = plain["dequant"].as_str() {
            let want = f32s(&std::fs::read(dir().join(dq)).unwrap());
            let got = dequantize(ty, &std::fs::read(dir().join(plain["bin"].as_str().unwrap())).unwrap()).unwrap();
            let wrong = got.iter().zip(&want).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            if wrong > 0 {
                report.push(format!("{name}: dequantize differs in {wrong} of {} values", want.len()));
                failures.push(format!("{name} dequant"));
            }
        }
    }
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "mismatches: {failures:?}\n{}", report.join("\n"));
}

#[test]
fn importance_weighted_paths_match_ggml_block_for_block() {
    let m: Value = serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap()).unwrap();
    let (x, segs) = inputs(&m);
    let imatrix = f32s(&std::fs::read(dir().join("imatrix.f32")).unwrap());
    let qw_segments: Vec<(usize, usize)> = m["imatrix"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["offset_values"].as_u64().unwrap() as usize, s["n"].as_u64().unwrap() as usize))
        .collect();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (name, spec) in m["types"].as_object().unwrap() {
        let Some(rec) = spec.get("imatrix").filter(|r| !r.is_null()) else { continue };
        let ty_name = spec["ggml_type_name"].as_str().unwrap();
        let Some(ty) = GgmlType::from_name(ty_name).filter(|&t| quantize::codec::is_supported(t)) else {
            report.push(format!("{name} (imatrix): not implemented yet"));
            continue;
        };
        let want = std::fs::read(dir().join(rec["bin"].as_str().unwrap())).unwrap();
        let mut ours = Vec::new();
        for (&(start, rows, n), &(qs, qn)) in segs.rows.iter().zip(&qw_segments) {
            assert_eq!(n, qn);
            for r in 0..rows {
                let row = &x[start + r * n..start + (r + 1) * n];
                ours.extend(quantize::codec::quantize_row_weighted(ty, row, &imatrix[qs..qs + qn]).unwrap());
            }
        }
        let (bad, total, worst) = compare(ty, &ours, &want);
        report.push(format!(
            "{name} (imatrix): {bad}/{total} blocks differ{}",
            if bad > 0 { format!(" ({worst})") } else { String::new() }
        ));
        if bad > 0 {
            failures.push(name.clone());
        }
        let dq = f32s(&std::fs::read(dir().join(rec["dequant"].as_str().unwrap())).unwrap());
        let got = dequantize(ty, &want).unwrap();
        let wrong = got.iter().zip(&dq).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        if wrong > 0 {
            report.push(format!("{name} (imatrix): dequantize differs in {wrong} of {} values", dq.len()));
            failures.push(format!("{name} imatrix dequant"));
        }
    }
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "mismatches: {failures:?}\n{}", report.join("\n"));
    let checked = report.iter().filter(|r| r.contains("blocks differ")).count();
    assert!(checked >= 16, "{checked} weighted types checked");
}
