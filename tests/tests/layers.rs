//! The layers the code is built in, checked over its `crate::`/`super::` paths:
//! - in `switchboard-core` (shared/core): domain ← observe ← ports ← auth ← service ← memory, each
//!   module using only those before it (the crate itself cannot see AWS, HTTP or Lambda: it does
//!   not depend on them, checked below);
//! - in `switchboard` (shared): config ← the adapters (dynamo, twilio, apigw, telemetry) ← app ← api;
//! - in both, no two modules import each other, directly or through others (a module and its own
//!   submodules excepted: a child uses its parent's helpers).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Module path (`["service", "messages"]`) of every .rs file under `src`.
fn modules(src: &Path) -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut next = prefix.to_vec();
                next.push(name);
                walk(&path, &next, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut module = prefix.to_vec();
                if name != "mod" && name != "lib" {
                    module.push(name);
                }
                out.insert(module, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// The code without comments and string literals (paths in docs are not imports).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        let mut in_string = false;
        for c in line.chars() {
            if c == '"' {
                in_string = !in_string;
            } else if !in_string {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// Every `crate::a::b`, `super::x`, `self::y` path in `code`, and the members of
/// `crate::{a, b::c}` groups, as segment lists relative to their anchor.
fn paths(code: &str) -> Vec<(String, Vec<String>)> {
    let re = regex_lite::Regex::new(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)*)(::\{([^}]*)\})?")
        .unwrap();
    let mut out = Vec::new();
    for caps in re.captures_iter(code) {
        let anchor = caps[1].to_string();
        let base: Vec<String> = caps[2].split("::").filter(|s| !s.is_empty()).map(str::to_string).collect();
        match caps.get(4) {
            Some(group) => {
                for member in group.as_str().split(',') {
                    let mut path = base.clone();
                    path.extend(
                        member
                            .split("::")
                            .map(|s| s.trim())
                            .filter(|s| !s.is_empty() && *s != "self")
                            .map(str::to_string),
                    );
                    out.push((anchor.clone(), path));
                }
            }
            None => out.push((anchor, base)),
        }
    }
    out
}

/// The longest known module a path names, from `from` (the module whose file holds it).
fn resolve(
    known: &BTreeSet<Vec<String>>,
    from: &[String],
    anchor: &str,
    path: &[String],
) -> Option<Vec<String>> {
    // In `a/b.rs` and in `a/b/mod.rs` (both module a::b), `super` is `a`.
    let mut base: Vec<String> = match anchor {
        "crate" => Vec::new(),
        "self" => from.to_vec(),
        _ => from[..from.len().saturating_sub(1)].to_vec(),
    };
    let mut best = None;
    for segment in path {
        base.push(segment.clone());
        if known.contains(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best
}

fn related(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// module -> the modules it uses (ancestors and descendants left out).
fn graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files = modules(src);
    let known: BTreeSet<Vec<String>> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, text) in &files {
        let mut uses = BTreeSet::new();
        for (anchor, path) in paths(&code_only(text)) {
            if let Some(target) = resolve(&known, module, &anchor, &path) {
                if !related(module, &target) {
                    uses.insert(target);
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// A cycle of the graph, if any (depth-first search).
fn cycle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<Vec<String>>> {
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|n| n == next).unwrap();
                    let mut found = stack[start..].to_vec();
                    found.push(next.clone());
                    return Some(found);
                }
                0 => {
                    if let Some(found) = visit(next, graph, state, stack) {
                        return Some(found);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node).copied().unwrap_or(0) == 0 {
            if let Some(found) = visit(node, graph, &mut state, &mut Vec::new()) {
                return Some(found);
            }
        }
    }
    None
}

fn show(module: &[String]) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

/// Every use of a top-level module by another must go down the ranks (lower rank = lower layer).
fn check_layers(src: &Path, ranks: &[(&str, u8)]) {
    let graph = graph(src);
    if let Some(found) = cycle(&graph) {
        panic!(
            "import cycle in {}: {}",
            src.display(),
            found.iter().map(|m| show(m)).collect::<Vec<_>>().join(" -> ")
        );
    }
    let rank = |module: &[String]| -> Option<u8> {
        let top = module.first()?;
        Some(ranks.iter().find(|(name, _)| name == top).unwrap_or_else(|| panic!("{top} has no layer")).1)
    };
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        let Some(from) = rank(module) else { continue };
        for target in uses {
            let Some(to) = rank(target) else { continue };
            if module.first() != target.first() && to >= from {
                wrong.push(format!("{} uses {}", show(module), show(target)));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken in {}:\n{}", src.display(), wrong.join("\n"));
}

#[test]
fn the_core_is_layered_without_cycles() {
    check_layers(
        &root().join("shared/core/src"),
        &[
            ("error", 0),
            ("secret", 0),
            ("domain", 1),
            ("observe", 2),
            ("ports", 3),
            ("auth", 4),
            ("service", 5),
            ("memory", 6),
        ],
    );
}

#[test]
fn the_edge_is_layered_without_cycles() {
    check_layers(
        &root().join("shared/src"),
        &[
            ("config", 0),
            ("telemetry", 1),
            ("dynamo", 1),
            ("twilio", 2),
            ("apigw", 1),
            ("sqs", 1),
            ("s3", 1),
            ("s3_copies", 1),
            ("app", 3),
            ("api", 4),
        ],
    );
}

#[test]
fn the_core_depends_on_no_aws_http_or_lambda_crate() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("shared/core/Cargo.toml")).unwrap()).unwrap();
    let dependencies: Vec<&String> = manifest["dependencies"].as_table().unwrap().keys().collect();
    for name in &dependencies {
        let forbidden = name.starts_with("aws")
            || name.starts_with("lambda")
            || name.contains("http")
            || ["reqwest", "hyper", "axum", "tower", "serde_dynamo"].contains(&name.as_str());
        assert!(!forbidden, "switchboard-core depends on {name}");
    }
}

#[test]
fn the_checker_finds_a_cycle_and_a_wrong_way_import() {
    let dir = std::env::temp_dir().join(format!("layers-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("service")).unwrap();
    std::fs::write(dir.join("lib.rs"), "pub mod domain; pub mod service;").unwrap();
    std::fs::write(dir.join("domain.rs"), "use crate::service::x::Thing;").unwrap();
    std::fs::write(dir.join("service/mod.rs"), "pub mod x;").unwrap();
    std::fs::write(dir.join("service/x.rs"), "use crate::domain::Y; // crate::nothing").unwrap();
    let graph = graph(&dir);
    assert!(cycle(&graph).is_some(), "{graph:?}");
    let wrong = std::panic::catch_unwind(|| check_layers(&dir, &[("domain", 0), ("service", 1)]));
    assert!(wrong.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
