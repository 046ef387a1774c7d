//! The labelled corpus (tests/corpus: `generate.py` writes `policies/*.json` and `index.json`
//! with each policy's reason and expected rule ids). Recall and precision are computed per rule
//! family and must be at least 0.95 each.

use std::collections::{BTreeMap, BTreeSet};

use keyless_lint::{finding::rule, lint_document};
use serde_json::Value;

#[derive(Default, Debug)]
struct Score {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Score {
    fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
    fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
}

fn family(id: &str) -> &'static str {
    rule(id).map_or("unknown", |r| r.family)
}

#[test]
fn corpus_recall_and_precision_per_family() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/index.json")).unwrap())
            .unwrap();
    let cases = index.as_array().unwrap();
    assert!(cases.len() >= 150, "corpus has {} policies", cases.len());
    let mut per_family: BTreeMap<&str, Score> = BTreeMap::new();
    let mut per_rule: BTreeMap<String, Score> = BTreeMap::new();
    let mut disagreements = Vec::new();
    let (mut insecure, mut insecure_found, mut secure, mut secure_flagged) = (0, 0, 0, 0);
    for c in cases {
        let file = c["file"].as_str().unwrap();
        let text = std::fs::read_to_string(format!("{dir}/policies/{file}")).unwrap();
        let expected: BTreeSet<String> = c["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let findings = lint_document(file, &text).unwrap();
        let got: BTreeSet<String> = findings.iter().map(|f| f.rule.to_string()).collect();
        for id in expected.union(&got) {
            let (e, g) = (expected.contains(id), got.contains(id));
            for score in [
                per_family.entry(family(id)).or_default(),
                per_rule.entry(id.clone()).or_default(),
            ] {
                match (e, g) {
                    (true, true) => score.tp += 1,
                    (true, false) => score.fn_ += 1,
                    (false, true) => score.fp += 1,
                    (false, false) => {}
                }
            }
        }
        if expected != got {
            disagreements.push(format!("{file}: expected {expected:?}, got {got:?}"));
        }
        let exposure = findings.iter().any(|f| {
            !matches!(
                f.rule,
                "KL010" | "KL011" | "KL012" | "KL013" | "KL020" | "KL025"
            )
        });
        if c["insecure"].as_bool().unwrap() {
            insecure += 1;
            insecure_found += usize::from(exposure);
        } else {
            secure += 1;
            secure_flagged += usize::from(exposure);
        }
    }
    println!(
        "policies: {} ({insecure} insecure, {secure} secure)",
        cases.len()
    );
    println!(
        "insecure policies found: {insecure_found}/{insecure}; secure policies flagged: {secure_flagged}/{secure}"
    );
    println!(
        "{:<12} {:>4} {:>4} {:>4} {:>7} {:>9}",
        "family", "tp", "fp", "fn", "recall", "precision"
    );
    for (f, s) in &per_family {
        println!(
            "{f:<12} {:>4} {:>4} {:>4} {:>7.3} {:>9.3}",
            s.tp,
            s.fp,
            s.fn_,
            s.recall(),
            s.precision()
        );
    }
    for (r, s) in &per_rule {
        println!(
            "{r:<12} {:>4} {:>4} {:>4} {:>7.3} {:>9.3}",
            s.tp,
            s.fp,
            s.fn_,
            s.recall(),
            s.precision()
        );
    }
    for d in &disagreements {
        println!("DISAGREE {d}");
    }
    for (f, s) in &per_family {
        assert!(s.recall() >= 0.95, "family {f}: recall {:.3}", s.recall());
        assert!(
            s.precision() >= 0.95,
            "family {f}: precision {:.3}",
            s.precision()
        );
    }
    assert_eq!(
        insecure_found, insecure,
        "every insecure policy must be found"
    );
    assert_eq!(secure_flagged, 0, "no secure policy may be flagged");
}

/// The fallback evaluator (used only for documents the policy engine refuses to parse) agrees
/// with the policy engine on every probe of every corpus policy.
#[test]
fn fallback_evaluator_agrees_with_the_policy_engine() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/policies");
    let mut checked = 0;
    let mut disagreements = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let policy = keyless_lint::model::Policy::from_value(&doc);
        if keyless_lint::rules::Decider::new(&doc, &policy).uses_engine() {
            checked += 1;
        }
        for d in keyless_lint::rules::cross_check(&doc) {
            disagreements.push(format!("{}: {d}", path.display()));
        }
    }
    println!(
        "the policy engine decided the probes of {checked} corpus policies, the fallback the rest"
    );
    assert!(
        checked >= 150,
        "the engine parsed only {checked} corpus policies"
    );
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
