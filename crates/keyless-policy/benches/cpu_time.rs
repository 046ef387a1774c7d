//! The same workloads as `policy.rs`, timed in **CPU time of this process** (from
//! `/proc/self/stat`) rather than wall time, so figures stay meaningful on a machine shared with
//! other work. Linux only; prints one line per workload: operations per CPU-second.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice,
    missing_docs
)]

mod workloads;

use keyless_policy::{
    Context, Named, PolicyKind, PolicySet, PrincipalId, PrincipalKind, Request, evaluate, parse,
};
use std::hint::black_box;
use std::time::{Duration, Instant};
use workloads::{PROVIDER, github_trust, twenty_statements, two_kb_policy};

/// utime + stime of this process, in clock ticks (normally 100 per second).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

const TICKS_PER_SECOND: f64 = 100.0;

/// Runs `f` in batches for about `wall` of wall-clock time; returns operations per CPU-second.
fn measure(name: &str, wall: Duration, mut f: impl FnMut()) {
    for _ in 0..10_000 {
        f();
    }
    let start_ticks = cpu_ticks();
    let start = Instant::now();
    let mut ops: u64 = 0;
    while start.elapsed() < wall {
        for _ in 0..1000 {
            f();
        }
        ops += 1000;
    }
    let ticks = cpu_ticks() - start_ticks;
    let cpu_seconds = ticks as f64 / TICKS_PER_SECOND;
    println!(
        "{name}: {:.0} ops per CPU-second ({:.0} ns CPU per op; {ops} ops, {cpu_seconds:.2} CPU-s in {:.1} s wall)",
        ops as f64 / cpu_seconds,
        cpu_seconds * 1e9 / ops as f64,
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects workloads by substring.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let wall = Duration::from_secs(8);

    let text = two_kb_policy();
    if wanted("parse") {
        measure(
            &format!("parse_validate_{}_bytes", text.len()),
            wall,
            || {
                black_box(parse(black_box(&text), PolicyKind::Identity).unwrap());
            },
        );
    }

    let trust = parse(&github_trust(), PolicyKind::Trust).unwrap();
    let mut ctx = Context::new();
    ctx.insert(
        "token.actions.githubusercontent.com:aud",
        "sts.amazonaws.com",
    );
    ctx.insert(
        "token.actions.githubusercontent.com:sub",
        "repo:acme/app:ref:refs/heads/main",
    );
    ctx.insert("sts:RoleSessionName", "gha-123");
    ctx.insert("aws:SourceIp", "203.0.113.5");
    let principal = [PrincipalId::new(PrincipalKind::Federated, PROVIDER)];
    let set = PolicySet {
        resource: Some(Named {
            name: "trust",
            policy: &trust,
        }),
        ..PolicySet::default()
    };
    let request = Request {
        principal: &principal,
        action: "sts:AssumeRoleWithWebIdentity",
        resource: "arn:aws:iam::123456789012:role/deploy",
        context: &ctx,
    };
    assert!(evaluate(&set, &request).decision.is_allowed());
    if wanted("github") {
        measure("evaluate_github_trust_policy", wall, || {
            black_box(evaluate(black_box(&set), black_box(&request)));
        });
    }

    let identity = parse(&twenty_statements(), PolicyKind::Identity).unwrap();
    let mut ctx = Context::new();
    ctx.insert("aws:PrincipalTag/team", "team-18-blue");
    let set = PolicySet {
        identity: vec![Named {
            name: "app",
            policy: &identity,
        }],
        ..PolicySet::default()
    };
    let request = Request {
        principal: &[],
        action: "kms:DescribeKey",
        resource: "arn:aws:kms:eu-west-1:123456789012:other-18-key",
        context: &ctx,
    };
    assert!(evaluate(&set, &request).decision.is_allowed());
    if wanted("identity") {
        measure("evaluate_identity_policy_20_statements", wall, || {
            black_box(evaluate(black_box(&set), black_box(&request)));
        });
    }
}
