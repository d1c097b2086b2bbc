//! The direction of the imports inside `loadgen`, checked from its source: which
//! module may never import which, and no import cycle at all.
//!
//! A module is a file: `lib.rs` is `crate`, `run.rs` is `run`, `record/mod.rs` is
//! `record`, `record/fold.rs` is `record::fold`. An import is any path in code (not
//! in comments or strings) that starts with `crate::`, `super::`, `self::` or the
//! name of a child module; it counts for the longest module its path names. Code
//! after a file's first `#[cfg(test)]` is not looked at (tests may reach anywhere).
//! A folder's root re-exporting its own parts (`record/mod.rs` -> `record::fold`)
//! is structure, not a dependency, and is not an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The rules, read as "MODULE never imports any of THESE, because WHY". A rule
/// on `worker` covers `worker::*`, and forbidding `distributed` forbids
/// `distributed::*` too. The flow they keep: options -> plan -> run ->
/// worker/direct -> progress (what workers publish) -> record (the collector and
/// the fold) -> result -> report, with `load` and `meta` as plain data under
/// plan, distributed and result; campaigns sit above run and read results.
const NEVER: &[(&str, &[&str], &str)] = &[
    (
        "worker",
        &["distributed", "report", "campaign", "options", "run"],
        "a worker runs a Plan and hands back what it measured: no files, views, argv or orchestration",
    ),
    (
        "direct",
        &["distributed", "report", "campaign", "options", "run"],
        "a worker runs a Plan and hands back what it measured: no files, views, argv or orchestration",
    ),
    (
        "report",
        &["plan", "options", "run", "worker", "direct", "source", "record", "progress", "campaign", "distributed"],
        "a view is a function of the RunResult alone",
    ),
    (
        "result",
        &["plan", "options", "run", "worker", "direct", "source", "record", "progress", "report", "campaign", "distributed"],
        "the result model stands alone: it is read back from JSON without anything that made it",
    ),
    (
        "record",
        &["options", "run", "direct", "report", "campaign"],
        "the record stage folds what the workers measured into a RunResult; it starts nothing and renders nothing",
    ),
    (
        "progress",
        &["plan", "options", "run", "worker", "direct", "record", "report", "campaign", "distributed", "result"],
        "the surface the workers publish to imports nothing above it",
    ),
    (
        "campaign",
        &["worker", "direct", "source", "progress", "record"],
        "a campaign builds Plans and reads RunResults; it never touches a socket",
    ),
    (
        "plan",
        &["options", "run", "record", "progress", "report", "result", "campaign"],
        "a Plan is data that options build and everything after reads (building one may probe the engine)",
    ),
    (
        "load",
        &["plan", "options", "run", "worker", "direct", "record", "progress", "report", "result", "campaign", "distributed", "meta"],
        "the load spec is plain data under every other module",
    ),
    (
        "meta",
        &["plan", "options", "run", "worker", "direct", "record", "progress", "report", "result", "campaign", "distributed"],
        "the machine's description is plain data under the result",
    ),
];

/// One import: where it is written, and which module it names.
#[derive(Debug, Clone)]
struct Import {
    from: String,
    to: String,
    file: PathBuf,
    line: usize,
    text: String,
}

#[test]
fn loadgen_imports_go_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("loadgen/src");
    let imports = imports_of(&src);
    assert!(
        imports.iter().any(|i| i.from == "run" && i.to == "plan"),
        "the scan found no import of plan in run.rs: the parser is broken"
    );
    let mut broken = Vec::new();
    for i in &imports {
        for (module, never, why) in NEVER {
            if within(&i.from, module) && never.iter().any(|n| within(&i.to, n)) {
                broken.push(format!(
                    "{}:{}: `{}`\n    {} imports {}: {module} never imports {} ({why})",
                    i.file.display(),
                    i.line,
                    i.text,
                    i.from,
                    i.to,
                    never.iter().find(|n| within(&i.to, n)).unwrap()
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the architecture rules (tests/integration/architecture.rs):\n{}",
        broken.join("\n")
    );
}

#[test]
fn loadgen_has_no_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("loadgen/src");
    let imports = imports_of(&src);
    if let Some(cycle) = find_cycle(&imports) {
        let lines: Vec<String> = cycle
            .iter()
            .map(|i| {
                format!(
                    "  {} -> {}   {}:{}: `{}`",
                    i.from,
                    i.to,
                    i.file.display(),
                    i.line,
                    i.text
                )
            })
            .collect();
        panic!(
            "an import cycle in loadgen (each module's first import of the next):\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn the_scanner_reads_paths_not_comments_or_strings() {
    let modules: BTreeSet<String> = ["crate", "a", "b", "b::c", "d", "e"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let code = "use crate::{a::X, b::c::{Y, Z}};\n\
                // use crate::d::Nope;\n\
                let s = \"crate::d::Nope\"; /* crate::d */\n\
                fn f() { super::e::g(); c::h(); }\n\
                #[cfg(test)]\nuse crate::d::Test;\n";
    let found = references(code, "b", true, &modules);
    assert_eq!(
        found,
        vec![
            ("a".to_string(), 1),
            ("b::c".to_string(), 1),
            ("e".to_string(), 4),
            ("b::c".to_string(), 4),
        ]
    );
}

#[test]
fn a_cycle_is_found_and_a_chain_is_not() {
    let edge = |from: &str, to: &str| Import {
        from: from.into(),
        to: to.into(),
        file: PathBuf::from("x.rs"),
        line: 1,
        text: String::new(),
    };
    assert!(find_cycle(&[edge("a", "b"), edge("b", "c"), edge("a", "c")]).is_none());
    let cycle = find_cycle(&[edge("a", "b"), edge("b", "c"), edge("c", "a")]).unwrap();
    assert_eq!(cycle.len(), 3);
}

/// `module` is `root` or inside it.
fn within(module: &str, root: &str) -> bool {
    module == root || module.starts_with(&format!("{root}::"))
}

/// Every import between distinct modules of the crate under `src`.
fn imports_of(src: &Path) -> Vec<Import> {
    let files = rust_files(src);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut out = Vec::new();
    for file in &files {
        let from = module_of(src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let is_root = file
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        let lines: Vec<&str> = text.lines().collect();
        for (to, line) in references(&text, &from, is_root, &modules) {
            // A folder's root naming its own parts is structure.
            if to == from || (from != "crate" && within(&to, &from)) {
                continue;
            }
            out.push(Import {
                from: from.clone(),
                to,
                file: file
                    .strip_prefix(src.parent().unwrap().parent().unwrap())
                    .unwrap_or(file)
                    .to_path_buf(),
                line,
                text: lines.get(line - 1).map_or("", |l| l.trim()).to_string(),
            });
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// `lib.rs` -> `crate`, `run.rs` -> `run`, `record/mod.rs` -> `record`,
/// `record/fold.rs` -> `record::fold`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    if parts.is_empty() {
        "crate".into()
    } else {
        parts.join("::")
    }
}

/// The modules `code` (of module `from`) names, with the line of each mention:
/// `crate::`, `super::`, `self::` paths and, where `from` is a folder's root or
/// the crate root (`is_root`), paths that start with one of its child modules.
/// Grouped imports (`use crate::{a, b::{c}}`) count each member.
fn references(
    code: &str,
    from: &str,
    is_root: bool,
    modules: &BTreeSet<String>,
) -> Vec<(String, usize)> {
    let code = code_only(code);
    let code = match code.find("#[cfg(test)]") {
        Some(i) => &code[..i],
        None => &code[..],
    };
    let here: Vec<&str> = if from == "crate" {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let ident_start = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':'
                || bytes[i - 1] == b'$');
        if !ident_start || !(bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
            i += 1;
            continue;
        }
        let word_end = (i..bytes.len())
            .find(|&j| !(bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_'))
            .unwrap_or(bytes.len());
        let word = &code[i..word_end];
        if !code[word_end..].starts_with("::") {
            i = word_end;
            continue;
        }
        let base: Option<Vec<String>> = match word {
            "crate" => Some(Vec::new()),
            "self" => Some(here.iter().map(|s| s.to_string()).collect()),
            "super" => Some(
                here[..here.len().saturating_sub(1)]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            w => {
                let mut child: Vec<String> = here.iter().map(|s| s.to_string()).collect();
                child.push(w.to_string());
                (is_root && modules.contains(&child.join("::")))
                    .then(|| here.iter().map(|s| s.to_string()).collect())
            }
        };
        let Some(mut base) = base else {
            i = word_end;
            continue;
        };
        let line = code[..i].matches('\n').count() + 1;
        // `super::super::x`
        let mut rest_at = word_end + 2;
        if word == "super" {
            while code[rest_at..].starts_with("super::") {
                base.pop();
                rest_at += "super::".len();
            }
        }
        let start_segments = if matches!(word, "crate" | "self" | "super") {
            base
        } else {
            let mut b = base;
            b.push(word.to_string());
            b
        };
        for path in expand(&code[rest_at..], &start_segments) {
            let found = (longest_module(&path, modules), line);
            if !out.contains(&found) {
                out.push(found);
            }
        }
        i = rest_at;
    }
    out
}

/// The paths written at the start of `rest` below `prefix`: `a::b::X` is one,
/// `{a::X, b::{c, d}}` several.
fn expand(rest: &str, prefix: &[String]) -> Vec<Vec<String>> {
    let rest = rest.trim_start();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut items = Vec::new();
        let mut start = 0;
        for (j, ch) in inner.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    items.push(&inner[start..j]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[start..j]);
                    start = j + 1;
                }
                _ => {}
            }
        }
        return items
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .flat_map(|item| expand(item, prefix))
            .collect();
    }
    let mut path = prefix.to_vec();
    let mut s = rest;
    loop {
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        if end == 0 {
            if s.starts_with('{') {
                return expand(s, &path);
            }
            break;
        }
        path.push(s[..end].to_string());
        s = &s[end..];
        match s.strip_prefix("::") {
            Some(r) => s = r,
            None => break,
        }
    }
    vec![path]
}

/// The longest module that `path` starts with (`crate` when none).
fn longest_module(path: &[String], modules: &BTreeSet<String>) -> String {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
        .unwrap_or_else(|| "crate".into())
}

/// `code` with comments and string/char literals blanked (newlines kept), so
/// only code is scanned and line numbers stay right.
fn code_only(code: &str) -> String {
    let b: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !(b[i - 1].is_alphanumeric() || b[i - 1] == '_'))
        {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < b.len() {
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &b[i..j.min(b.len())] {
                out.push(blank(ch));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\''
            && (b.get(i + 2) == Some(&'\'')
                || (next == Some('\\') && b[i + 1..].iter().take(12).any(|&x| x == '\'')))
        {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime.
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '\'' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// A cycle among the imports' modules, as the imports that make it, if any.
fn find_cycle(imports: &[Import]) -> Option<Vec<Import>> {
    let mut graph: BTreeMap<&str, BTreeMap<&str, &Import>> = BTreeMap::new();
    for i in imports {
        graph
            .entry(i.from.as_str())
            .or_default()
            .entry(i.to.as_str())
            .or_insert(i);
    }
    // Depth-first, with the path kept: a node met again on the path closes a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeMap<&'a str, &'a Import>>,
        done: &mut BTreeSet<&'a str>,
        path: &mut Vec<&'a Import>,
        on_path: &mut Vec<&'a str>,
    ) -> Option<Vec<Import>> {
        if done.contains(node) {
            return None;
        }
        on_path.push(node);
        for (&next, &edge) in graph.get(node).into_iter().flatten() {
            path.push(edge);
            if let Some(at) = on_path.iter().position(|&n| n == next) {
                return Some(path[at..].iter().map(|&e| e.clone()).collect());
            }
            if let Some(c) = visit(next, graph, done, path, on_path) {
                return Some(c);
            }
            path.pop();
        }
        on_path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    for &start in graph.keys() {
        let (mut path, mut on_path) = (Vec::new(), Vec::new());
        if let Some(c) = visit(start, &graph, &mut done, &mut path, &mut on_path) {
            return Some(c);
        }
    }
    None
}
