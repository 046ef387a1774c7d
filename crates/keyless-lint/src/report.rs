//! Output formats: human text with source snippets, JSON, SARIF 2.1.0.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use serde_json::{Value, json};

use crate::finding::{Finding, RULES, Severity, rule};

/// Writes the human report: one diagnostic per finding with `file:line:column` and the source line.
pub fn text(
    out: &mut dyn Write,
    findings: &[Finding],
    sources: &HashMap<String, String>,
) -> io::Result<()> {
    let mut previous: Option<&Finding> = None;
    for f in findings {
        writeln!(out, "{}[{}]: {}", f.severity, f.rule, f.message)?;
        let loc = &f.location;
        writeln!(out, "  --> {}:{}:{}", loc.file, loc.line, loc.column)?;
        if let Some(src) = sources.get(&loc.file)
            && let Some(line) = src.lines().nth(loc.line.saturating_sub(1))
        {
            let num = loc.line.to_string();
            let pad = " ".repeat(num.len());
            let line: String = line.chars().take(160).collect();
            let caret_pad: String = line
                .chars()
                .take(loc.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            writeln!(out, "{pad} |")?;
            writeln!(out, "{num} | {line}")?;
            writeln!(out, "{pad} | {caret_pad}^ {}", loc.json_path)?;
        }
        if let Some(r) = rule(f.rule) {
            writeln!(out, "  = why: {}", r.rationale)?;
        }
        let repeated =
            previous.is_some_and(|p: &Finding| p.location == f.location && p.fix == f.fix);
        previous = Some(f);
        if repeated {
            writeln!(out, "  = fix: as above")?;
        } else if let Some(fix) = &f.fix {
            let mut lines = fix.lines();
            if let Some(first) = lines.next() {
                writeln!(out, "  = fix: {first}")?;
            }
            for l in lines {
                writeln!(out, "         {l}")?;
            }
        }
        writeln!(out)?;
    }
    let mut counts: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
    for f in findings {
        *counts.entry(std::cmp::Reverse(f.severity)).or_default() += 1;
    }
    if findings.is_empty() {
        writeln!(out, "no findings")?;
    } else {
        let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {}", s.0)).collect();
        writeln!(
            out,
            "{} finding{} ({})",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            parts.join(", ")
        )?;
    }
    Ok(())
}

/// Writes the findings as a JSON array.
pub fn json(out: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, findings)?;
    writeln!(out)
}

fn uri(file: &str) -> String {
    let f = file.replace('\\', "/");
    let f = f.strip_prefix("./").unwrap_or(&f).to_string();
    f.chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '%' => "%25".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Builds a SARIF 2.1.0 log.
pub fn sarif_value(findings: &[Finding], errors: &[String]) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": { "text": r.rationale },
                "fullDescription": { "text": r.rationale },
                "help": { "text": format!("{} ({} family)", r.rationale, r.family) },
                "defaultConfiguration": { "level": r.severity.sarif_level() },
                "properties": { "security-severity": r.severity.security_score(), "tags": ["security", "iam", "oidc"] }
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let index = RULES.iter().position(|r| r.id == f.rule).unwrap_or(0);
            let mut props = serde_json::Map::new();
            props.insert("severity".into(), json!(f.severity.as_str()));
            props.insert("jsonPath".into(), json!(f.location.json_path));
            if let Some(fix) = &f.fix {
                props.insert("fix".into(), json!(fix));
            }
            if let Some(s) = &f.admitted_subject {
                props.insert("admittedSubject".into(), json!(s));
            }
            let text = match &f.fix {
                Some(fix) => format!("{}\nfix: {fix}", f.message),
                None => f.message.clone(),
            };
            json!({
                "ruleId": f.rule,
                "ruleIndex": index,
                "level": f.severity.sarif_level(),
                "message": { "text": text },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.location.file) },
                        "region": { "startLine": f.location.line, "startColumn": f.location.column }
                    },
                    "logicalLocations": [{ "fullyQualifiedName": f.location.json_path, "kind": "member" }]
                }],
                "properties": props
            })
        })
        .collect();
    let notes: Vec<Value> = errors
        .iter()
        .map(|e| json!({ "level": "error", "message": { "text": e } }))
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "keyless-lint",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/keyless",
                "rules": rules
            }},
            "invocations": [{ "executionSuccessful": errors.is_empty(), "toolExecutionNotifications": notes }],
            "results": results
        }]
    })
}

/// Writes the SARIF log.
pub fn sarif(out: &mut dyn Write, findings: &[Finding], errors: &[String]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &sarif_value(findings, errors))?;
    writeln!(out)
}
