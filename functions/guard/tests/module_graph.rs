//! The library's module graph against docs/ARCHITECTURE.md: every module of
//! `functions/guard/src` is in its layer table, and every `crate::` reference in code goes to a
//! module of a lower layer (so there is no cycle, and no module reaches upwards).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Layer of each module, from the table of docs/ARCHITECTURE.md (`| N | \`module\` | … |`).
fn layers() -> BTreeMap<String, u32> {
    let text = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).expect("docs/ARCHITECTURE.md");
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let layer = cells.first()?.parse().ok()?;
            let module = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((module.to_string(), layer))
        })
        .collect()
}

/// The module a source file belongs to: its top-level module (`aws/signed.rs` → `aws`).
/// `None` for the crate root and test files.
fn module_of(path: &Path, src: &Path) -> Option<String> {
    let relative = path.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_string();
    if first == "lib" || first.ends_with("_tests") || relative.ends_with("tests.rs") {
        return None;
    }
    Some(first)
}

fn sources(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The modules a file's code names as `crate::module` (comments left out).
fn references(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        for (index, _) in code.match_indices("crate::") {
            let name: String = code[index + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_module_is_in_the_layer_table_and_uses_only_lower_layers() {
    let layers = layers();
    assert!(layers.len() >= 20, "the table of docs/ARCHITECTURE.md was not read: {layers:?}");
    let src = root().join("functions/guard/src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let doubles = ["fake", "testing"];
    let mut upward = Vec::new();
    for file in &files {
        let Some(module) = module_of(file, &src) else { continue };
        let layer = *layers.get(&module).unwrap_or_else(|| panic!("{module} is not in docs/ARCHITECTURE.md"));
        let text = std::fs::read_to_string(file).expect("source");
        for used in references(&text) {
            if used == module || doubles.contains(&used.as_str()) && !doubles.contains(&module.as_str()) {
                continue;
            }
            let used_layer = *layers.get(&used).unwrap_or_else(|| panic!("{module} uses {used}, not in the table"));
            if used_layer >= layer {
                upward.push(format!("{} ({module}, layer {layer}) uses {used} (layer {used_layer})", file.display()));
            }
        }
    }
    assert!(upward.is_empty(), "references to the same or a higher layer:\n{}", upward.join("\n"));
}

#[test]
fn a_reference_upwards_is_found() {
    let upward = "use crate::run::Something;\n// crate::lambda in a comment is not a reference";
    assert_eq!(references(upward), BTreeSet::from(["run".to_string()]));
}
