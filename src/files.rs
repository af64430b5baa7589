//! The files a command works on, from the paths it was given: `rivr test`'s scenarios and
//! `rivr replay`'s traces.

use std::path::PathBuf;

/// Files under `paths`: a file as given, a directory searched through for names ending in one
/// of `suffixes`, each directory's finds in path order (so traces, named by time, in time
/// order).
pub fn named(paths: &[PathBuf], suffixes: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(path)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|entry| {
                    let name = entry.file_name().to_string_lossy();
                    suffixes.iter().any(|suffix| name.ends_with(suffix))
                })
                .map(walkdir::DirEntry::into_path)
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_taken_as_given_and_a_directory_is_searched_in_path_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir(root.join("b")).expect("mkdir");
        for name in ["b/2.test.yaml", "1.test.yml", "notes.yaml", "b/0.trace.jsonl"] {
            std::fs::write(root.join(name), "").expect("write");
        }
        let given = root.join("elsewhere.txt");
        let files = named(&[root.to_path_buf(), given.clone()], &[".test.yaml", ".test.yml"]);
        assert_eq!(files, [root.join("1.test.yml"), root.join("b/2.test.yaml"), given]);
    }
}
