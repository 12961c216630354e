//! The module structure, checked from the source text: no two files import each other,
//! directly or around a loop, and the settings import no engine or adapter. Test-only: it
//! reads `src/` as text and runs nothing.
//!
//! A file's imports are the `crate::`/`super::`/`self::` paths and the paths through its own
//! child modules, outside comments and `#[cfg(test)]` code, each resolved to the file of the longest module
//! path it names. A module and its own submodules are one unit (the parent declares them), so
//! the paths between them are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One source file: its module path (`["kafka", "config"]`) and its code without tests.
struct File {
    path: String,
    module: Vec<String>,
    code: String,
    /// Child modules declared in it, by name.
    children: BTreeSet<String>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/kafka/mod.rs` -> `kafka`; `src/kafka/config.rs` -> `kafka::config`; lib.rs and
/// main.rs -> the crate itself.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code before the first `#[cfg(test)]`-gated module, and the modules declared in it
/// (those declared under `#[cfg(test)]` marked as such).
fn split_code(text: &str) -> (String, BTreeSet<String>, BTreeSet<String>) {
    let mut code = String::new();
    let (mut children, mut test_children) = (BTreeSet::new(), BTreeSet::new());
    let mut gated = false;
    for line in text.lines() {
        let trimmed = line.trim();
        let declared = trimmed
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ")
            .strip_prefix("mod ")
            .map(|rest| rest.trim_end_matches([';', '{', ' ']).to_string());
        if let Some(name) = declared {
            if gated {
                if !trimmed.ends_with(';') {
                    // An inline test module: the rest of the file is tests.
                    break;
                }
                test_children.insert(name);
            } else if trimmed.ends_with(';') {
                children.insert(name);
            }
        }
        gated = trimmed == "#[cfg(test)]";
        // A link in a doc comment is no import.
        let line = line.split_once("//").map_or(line, |(before, _)| before);
        if !gated {
            code.push_str(line);
            code.push('\n');
        }
    }
    (code, children, test_children)
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path of `code` that starts at `crate`, `super`, `self` or one of `children`, as
/// segments, with `use` groups (`a::{b, c::d}`) expanded.
fn paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':');
        if starts_word && is_ident(chars[i]) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let followed = chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':');
            if followed
                && (matches!(word.as_str(), "crate" | "super" | "self") || children.contains(&word))
            {
                let (end, mut expanded) = expand(&chars, start);
                found.append(&mut expanded);
                i = end;
            }
        } else {
            i += 1;
        }
    }
    found
}

/// The path at `start`, and the paths of its `{...}` group if it has one; and where it ends.
fn expand(chars: &[char], start: usize) -> (usize, Vec<Vec<String>>) {
    let mut prefix = Vec::new();
    let mut i = start;
    loop {
        let word_start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        if i > word_start {
            prefix.push(chars[word_start..i].iter().collect::<String>());
        }
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
            if chars.get(i) == Some(&'{') {
                let mut all = Vec::new();
                i += 1;
                loop {
                    while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                        i += 1;
                    }
                    match chars.get(i) {
                        None => return (i, all),
                        Some('}') => return (i + 1, all),
                        Some(_) => {
                            let (end, inner) = expand(chars, i);
                            for tail in inner {
                                let mut path = prefix.clone();
                                path.extend(tail.into_iter().filter(|s| s != "self"));
                                all.push(path);
                            }
                            // Skip `as name` and anything else up to the next item.
                            i = end;
                            while chars.get(i).is_some_and(|c| *c != ',' && *c != '}') {
                                i += 1;
                            }
                        }
                    }
                }
            }
            continue;
        }
        return (i, vec![prefix]);
    }
}

/// Every file of `src/` with the files it imports (by path from the repository).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    rust_files(&root.join("src"), &mut found);
    let mut files = Vec::new();
    let mut test_only = BTreeSet::new();
    for path in found {
        let relative = path.strip_prefix(root.join("src")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let (code, children, test_children) = split_code(&text);
        let module = module_of(relative);
        for child in test_children {
            let mut child_module = module.clone();
            child_module.push(child);
            test_only.insert(child_module);
        }
        files.push(File {
            path: format!("src/{}", relative.display()),
            module,
            code,
            children,
        });
    }
    // main.rs is its own crate; the test-only files are tests.
    files.retain(|f| f.path != "src/main.rs" && !test_only.contains(&f.module));
    let by_module: BTreeMap<&[String], &str> = files
        .iter()
        .map(|f| (f.module.as_slice(), f.path.as_str()))
        .collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let mut targets = BTreeSet::new();
        for path in paths(&file.code, &file.children) {
            let mut absolute: Vec<String> = Vec::new();
            let mut segments = path.iter().peekable();
            match segments.peek().map(|s| s.as_str()) {
                Some("crate") => {
                    segments.next();
                }
                _ => absolute = file.module.clone(),
            }
            for segment in segments {
                match segment.as_str() {
                    "super" => {
                        absolute.pop();
                    }
                    "self" => {}
                    name => absolute.push(name.to_string()),
                }
            }
            let target = (0..=absolute.len())
                .rev()
                .find_map(|n| by_module.get(&absolute[..n]).map(|t| (n, *t)));
            if let Some((n, target)) = target {
                let module = &absolute[..n];
                let related = module.starts_with(&file.module) || file.module.starts_with(module);
                if !related {
                    targets.insert(target.to_string());
                }
            }
        }
        edges.insert(file.path.clone(), targets);
    }
    edges
}

/// The loops of files that import each other (Tarjan's strongly connected components).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(walk: &mut Walk<'a>, node: &'a str) {
        let n = walk.index.len();
        walk.index.insert(node, n);
        walk.low.insert(node, n);
        walk.stack.push(node);
        for next in walk.edges.get(node).into_iter().flatten() {
            if !walk.index.contains_key(next.as_str()) {
                visit(walk, next);
                let low = walk.low[node].min(walk.low[next.as_str()]);
                walk.low.insert(node, low);
            } else if walk.stack.contains(&next.as_str()) {
                let low = walk.low[node].min(walk.index[next.as_str()]);
                walk.low.insert(node, low);
            }
        }
        if walk.low[node] == walk.index[node] {
            let mut component = Vec::new();
            while let Some(top) = walk.stack.pop() {
                component.push(top.to_string());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                walk.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !walk.index.contains_key(node.as_str()) {
            visit(&mut walk, node);
        }
    }
    walk.found
}

/// The imports of the files under `from` into the files under any of `into`.
fn crossings(edges: &BTreeMap<String, BTreeSet<String>>, from: &str, into: &[&str]) -> Vec<String> {
    edges
        .iter()
        .filter(|(file, _)| file.starts_with(from))
        .flat_map(|(file, targets)| targets.iter().map(move |t| (file, t)))
        .filter(|(_, target)| into.iter().any(|i| target.starts_with(i)))
        .map(|(file, target)| format!("{file} -> {target}"))
        .collect()
}

#[test]
fn imports_are_read_through_groups_renames_and_child_modules() {
    let children = BTreeSet::from(["parse".to_string()]);
    let code = "use crate::a::{b::{C, d as e}, self};\npub use parse::*;\nlet x = super::f::G;";
    let found: Vec<String> = paths(code, &children)
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        found,
        [
            "crate::a::b::C",
            "crate::a::b::d",
            "crate::a",
            "parse",
            "super::f::G"
        ]
    );
}

#[test]
fn no_two_files_import_each_other_directly_or_around_a_loop() {
    let edges = imports();
    assert!(edges.len() > 50, "too few files read: {}", edges.len());
    let found = cycles(&edges);
    assert!(found.is_empty(), "import cycles between files: {found:?}");
}

#[test]
fn the_settings_import_no_engine_adapter_or_command() {
    let edges = imports();
    let upward = crossings(
        &edges,
        "src/settings",
        &[
            "src/dash",
            "src/owm",
            "src/kafka",
            "src/store",
            "src/produce",
            "src/commands",
            "src/cli.rs",
            "src/synthetic.rs",
            "src/metrics",
        ],
    );
    assert!(upward.is_empty(), "settings import upward: {upward:?}");
}

#[test]
fn owm_kafka_and_store_never_import_each_other() {
    let edges = imports();
    let mut crossed = crossings(&edges, "src/owm", &["src/kafka", "src/store"]);
    crossed.extend(crossings(&edges, "src/kafka", &["src/owm", "src/store"]));
    crossed.extend(crossings(&edges, "src/store", &["src/owm", "src/kafka"]));
    assert!(
        crossed.is_empty(),
        "adapters import each other: {crossed:?}"
    );
}
