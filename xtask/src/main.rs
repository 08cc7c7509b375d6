//! `cargo xtask`: keeps `spec/` and everything derived from it in step.
//!
//! - `cargo xtask regen [--check]`: validate the spec, rewrite (or check) the
//!   committed files derived from it.
//! - `cargo xtask import-upstream <swagger-2.0.json>`: convert Amazon's model
//!   into the spec, re-apply our fixes, print a semantic diff, then regen.

#![forbid(unsafe_code)]

mod convert;
mod derived;
mod diff;
mod fixes;
mod json_ext;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

/// The spec, relative to the repository root.
pub const SPEC_PATH: &str = "spec/shipping-v2.json";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = match std::env::current_dir()
        .map_err(|e| format!("cannot read the current directory: {e}"))
        .and_then(|dir| repo_root(&dir))
    {
        Ok(root) => root,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["regen"] => regen(&root, false),
        ["regen", "--check"] => regen(&root, true),
        ["import-upstream", file] => import_upstream(&root, Path::new(file)),
        _ => {
            eprintln!(
                "usage:\n  cargo xtask regen [--check]\n  cargo xtask import-upstream <amazon-swagger-2.0.json>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The repository the command was run in: `start` or its nearest ancestor
/// that holds both `xtask/Cargo.toml` and the spec's folder.
///
/// Found at run time, not from `env!("CARGO_MANIFEST_DIR")`: cargo does not
/// rebuild xtask for a copied tree that shares a target dir (its fingerprints
/// are relative and a copy keeps mtimes), so a compiled-in path would make
/// `cargo xtask` in a copy (as `.ci/run`'s scratch re-import does) read and
/// write the original checkout, or a deleted one.
fn repo_root(start: &Path) -> Result<PathBuf, String> {
    let spec_dir = Path::new(SPEC_PATH)
        .parent()
        .expect("SPEC_PATH has a folder");
    start
        .ancestors()
        .find(|dir| dir.join("xtask/Cargo.toml").is_file() && dir.join(spec_dir).is_dir())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "{} is not inside a spapi-shipping checkout (no xtask/Cargo.toml and spec/ in it or above it)",
                start.display()
            )
        })
}

/// Reads and validates the committed spec.
fn load_spec(root: &Path) -> Result<Value, String> {
    let path = root.join(SPEC_PATH);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let spec: Value =
        serde_json::from_str(&text).map_err(|e| format!("{SPEC_PATH} is not JSON: {e}"))?;
    validate::spec(&spec).map_err(|e| format!("{SPEC_PATH} is invalid: {e}"))?;
    Ok(spec)
}

fn regen(root: &Path, check: bool) -> Result<(), String> {
    let spec = load_spec(root)?;
    validate::fixes_documented(root)?;
    let files = derived::files(&spec)?;
    if check {
        let stale = derived::stale(root, &files);
        if stale.is_empty() {
            println!(
                "{} derived files are up to date with {SPEC_PATH}",
                files.len()
            );
            return Ok(());
        }
        for s in &stale {
            eprintln!("stale: {s}");
        }
        return Err(format!(
            "{} derived file(s) do not match {SPEC_PATH}; run `cargo xtask regen`",
            stale.len()
        ));
    }
    let written = derived::write(root, &files)?;
    println!(
        "regenerated {written} changed of {} derived files",
        files.len()
    );
    Ok(())
}

fn import_upstream(root: &Path, file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let swagger: Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
    let (mut spec, notes) =
        convert::swagger2_to_openapi3(&swagger).map_err(|e| format!("{}: {e}", file.display()))?;
    let log = fixes::apply_all(&mut spec, &notes.dropped_collection_formats)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    validate::spec(&spec).map_err(|e| format!("the imported spec is invalid: {e}"))?;

    let spec_path = root.join(SPEC_PATH);
    let old: Option<Value> = std::fs::read_to_string(&spec_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    println!("fixes applied:");
    for line in &log {
        println!("  {line}");
    }
    match &old {
        Some(old) => print!("{}", diff::SpecDiff::between(old, &spec).report()),
        None => println!("no previous spec: everything is new"),
    }
    derived::write_atomically(&spec_path, &derived::to_pretty_json(&spec))?;
    println!("wrote {SPEC_PATH}");
    regen(root, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-root-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_root_is_found_from_the_current_directory_not_the_build() {
        let copy = scratch("copy");
        std::fs::create_dir_all(copy.join("xtask/src")).unwrap();
        std::fs::create_dir_all(copy.join("spec")).unwrap();
        std::fs::write(copy.join("xtask/Cargo.toml"), "").unwrap();
        assert_eq!(repo_root(&copy).unwrap(), copy);
        assert_eq!(repo_root(&copy.join("xtask/src")).unwrap(), copy);
        std::fs::remove_dir_all(&copy).unwrap();
    }

    #[test]
    fn outside_a_checkout_is_an_error_naming_the_directory() {
        let elsewhere = scratch("elsewhere");
        let err = repo_root(&elsewhere).unwrap_err();
        assert!(err.contains(&elsewhere.display().to_string()), "{err}");
        std::fs::remove_dir_all(&elsewhere).unwrap();
    }
}
