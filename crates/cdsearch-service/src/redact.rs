//! Keeps server paths out of answers: messages that reach clients (skipped
//! targets' reasons, a search's errors, image errors) have every known
//! server directory replaced by what it stands for (`library sample`, a
//! mask's name, `the data directory`).

use std::path::Path;

/// Replacements of server paths in messages, longest path first.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    pairs: Vec<(String, String)>,
}

impl Redactor {
    /// Adds `path` (as given and, when it exists, canonical) to be replaced
    /// by `label`.
    pub fn with(mut self, path: &Path, label: &str) -> Self {
        let mut forms = vec![path.to_string_lossy().into_owned()];
        if let Ok(canonical) = path.canonicalize() {
            forms.push(canonical.to_string_lossy().into_owned());
        }
        if let Ok(cwd) = std::env::current_dir() {
            forms.push(cwd.join(path).to_string_lossy().into_owned());
        }
        for form in forms {
            let form = form.trim_end_matches('/').to_owned();
            if !form.is_empty() && !self.pairs.iter().any(|(p, _)| *p == form) {
                self.pairs.push((form, label.to_owned()));
            }
        }
        self.pairs
            .sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
        self
    }

    /// `text` with every known path replaced by its label.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (path, label) in &self.pairs {
            if out.contains(path.as_str()) {
                out = out.replace(path.as_str(), label);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_longest_known_path() {
        let r = Redactor::default()
            .with(Path::new("/srv/data"), "the data directory")
            .with(Path::new("/srv/data/searches/s1/mask-0.png"), "\"a.png\"");
        assert_eq!(
            r.apply("not comparable with mask /srv/data/searches/s1/mask-0.png: size"),
            "not comparable with mask \"a.png\": size"
        );
        assert_eq!(
            r.apply("cannot open /srv/data/x"),
            "cannot open the data directory/x"
        );
        assert_eq!(r.apply("nothing here"), "nothing here");
    }
}
