//! Golden files: compare a rendering with `tests/golden/...`; `UPDATE_GOLDEN=1` rewrites them.

use std::path::Path;

/// Asserts that `actual` is the content of `tests/golden/RELATIVE`.
pub fn assert_golden(relative: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(relative);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Create it with UPDATE_GOLDEN=1 cargo test",
            path.display()
        )
    });
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
            .unified_diff()
            .header("expected", "actual")
            .to_string();
        panic!(
            "{} differs from the rendering (UPDATE_GOLDEN=1 rewrites it):\n{diff}",
            path.display()
        );
    }
}
