//! A test of the layout: no two modules of `daemon/src` import each other, directly or through
//! others. Edges are the `crate::…` and `super::…` paths in each file (comments and a
//! trailing test module left out), resolved to the longest module path that is a file. Run
//! it alone with `cargo test -p scribed --lib import_cycles`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn modules(dir: &Path, prefix: &Module, out: &mut BTreeMap<Module, PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut module = prefix.clone();
        if path.is_dir() {
            module.push(name);
            modules(&path, &module, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if !matches!(stem, "lib" | "main" | "mod") {
                module.push(stem.to_string());
            }
            out.insert(module, path);
        }
    }
}

/// The code of a file without comments and without its trailing `mod tests`.
fn code(text: &str) -> String {
    let text: String = text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The paths after `crate::` or `super::` in `code`, with `{a, b::c}` groups expanded.
fn paths(code: &str, module: &Module) -> Vec<Module> {
    let mut found = Vec::new();
    for (anchor, base) in [("crate::", Vec::new()), ("super::", module[..module.len().saturating_sub(1)].to_vec())] {
        for (at, _) in code.match_indices(anchor) {
            let preceded = code[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            if preceded {
                continue;
            }
            let rest = &code[at + anchor.len()..];
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
            let head: Module = base.iter().cloned().chain(rest[..end].split("::").filter(|s| !s.is_empty()).map(String::from)).collect();
            found.push(head.clone());
            if rest[end..].starts_with('{') {
                let group = &rest[end + 1..rest[end..].find('}').map_or(rest.len(), |i| end + i)];
                for item in group.split(',').map(str::trim).filter(|i| !i.is_empty() && *i != "self") {
                    found.push(head.iter().cloned().chain(item.split("::").map(|s| s.trim().to_string())).collect());
                }
            }
        }
    }
    found
}

fn resolve(path: &Module, files: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    (1..=path.len()).rev().map(|k| path[..k].to_vec()).find(|candidate| files.contains_key(candidate))
}

/// Modules on a cycle, as found by a depth-first search.
fn cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        stack: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(at) = stack.iter().position(|m| m == node) {
            return Some(stack[at..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, stack, done) {
                return Some(found);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn graph_of(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = BTreeMap::new();
    modules(src, &Vec::new(), &mut files);
    files
        .iter()
        .map(|(module, path)| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let targets = paths(&code(&text), module)
                .iter()
                .filter_map(|p| resolve(p, &files))
                .filter(|target| target != module)
                .collect();
            (module.clone(), targets)
        })
        .collect()
}

#[test]
fn no_module_imports_itself_through_others() {
    let graph = graph_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 50, "the walk found the modules: {}", graph.len());
    let found = cycle(&graph).map(|c| c.iter().map(|m| m.join("/")).collect::<Vec<_>>().join(" -> "));
    assert_eq!(found, None, "an import cycle");
}

#[test]
fn a_cycle_is_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("a")).expect("dir");
    std::fs::write(dir.path().join("a.rs"), "pub mod b;\nuse crate::c::{self, D};\n").expect("a");
    std::fs::write(dir.path().join("a/b.rs"), "// use crate::c;\nfn f() {}\n").expect("b");
    std::fs::write(dir.path().join("c.rs"), "use super::a::b::f;\n#[cfg(test)]\nmod tests { use crate::c; }\n").expect("c");
    let graph = graph_of(dir.path());
    assert_eq!(cycle(&graph), None, "c imports a/b, which imports nothing");
    std::fs::write(dir.path().join("a/b.rs"), "fn f() { crate::c::g() }\n").expect("b");
    let found = cycle(&graph_of(dir.path())).expect("a/b -> c -> a/b");
    assert_eq!(found.len(), 2, "{found:?}");
}
