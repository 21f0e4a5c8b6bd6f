//! Where bytes come from: the mirror (a folder or a base URL, searched by file name) first, then
//! the registry's URLs in order.
//!
//! A [`Source`] opens as a reader positioned at a byte offset, so the downloader treats a local
//! mirror file and an HTTP server the same way: hash while writing, resume where the part file
//! ends. Failures say whether trying again could help ([`Failure::Transient`]) or the next source
//! should be tried ([`Failure::Permanent`]); both kinds live in [`super::opened`], shared with
//! the HTTP client.

use std::fmt;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::anyhow;
use serde::Serialize;

use super::http::Http;
use super::opened::{Failure, Opened};
use crate::zoo::Artifact;

/// A place that holds copies of the registry's files under their `file` names: a folder (the
/// offline test mirror, a shared drive) or the base URL of a web server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirror {
    /// A local folder.
    Dir(PathBuf),
    /// A base URL; `file` names are appended to it.
    Url(reqwest::Url),
}

impl FromStr for Mirror {
    type Err = anyhow::Error;

    /// `http://` and `https://` values are base URLs; anything else is a folder.
    fn from_str(s: &str) -> anyhow::Result<Mirror> {
        if s.is_empty() {
            return Err(anyhow!(
                "the mirror is empty; give a folder or an http(s) URL"
            ));
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            let base = if s.ends_with('/') {
                s.to_string()
            } else {
                format!("{s}/")
            };
            let url = reqwest::Url::parse(&base).map_err(|e| anyhow!("mirror URL '{s}': {e}"))?;
            Ok(Mirror::Url(url))
        } else {
            Ok(Mirror::Dir(PathBuf::from(s)))
        }
    }
}

impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mirror::Dir(d) => write!(f, "{}", d.display()),
            Mirror::Url(u) => write!(f, "{u}"),
        }
    }
}

/// One place to get one artifact from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Source {
    /// A file in a mirror folder.
    File(PathBuf),
    /// An http(s) URL.
    Url(String),
}

impl Source {
    /// The host of a URL source, by which an unreachable server is remembered.
    pub fn host(&self) -> Option<String> {
        match self {
            Source::File(_) => None,
            Source::Url(u) => reqwest::Url::parse(u).ok()?.host_str().map(str::to_string),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Url(u) => f.write_str(u),
        }
    }
}

/// The sources for `artifact`, in the order they are tried: the mirror's copy, then the
/// registry's URLs.
pub fn sources(artifact: &Artifact, mirror: Option<&Mirror>) -> Vec<Source> {
    let mirrored = mirror.map(|m| match m {
        Mirror::Dir(d) => Source::File(d.join(&artifact.file)),
        Mirror::Url(base) => {
            let mut url = base.clone();
            if let Ok(mut segments) = url.path_segments_mut() {
                segments.pop_if_empty().push(&artifact.file);
            }
            Source::Url(url.into())
        }
    });
    mirrored
        .into_iter()
        .chain(artifact.urls.iter().cloned().map(Source::Url))
        .collect()
}

impl Source {
    /// Opens the source at byte `offset` (0 for the whole file).
    pub fn open(&self, offset: u64, http: &Http) -> Result<Opened, Failure> {
        match self {
            Source::File(path) => {
                let mut f = File::open(path).map_err(|e| {
                    Failure::Unreachable(anyhow!("{}: not in the mirror ({e})", path.display()))
                })?;
                let total = f
                    .metadata()
                    .map_err(|e| Failure::Permanent(anyhow!("{}: {e}", path.display())))?
                    .len();
                f.seek(SeekFrom::Start(offset.min(total)))
                    .map_err(|e| Failure::Permanent(anyhow!("{}: {e}", path.display())))?;
                Ok(Opened {
                    reader: Box::new(f),
                    offset: offset.min(total),
                    total: Some(total),
                })
            }
            Source::Url(url) => http.open(url, offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo::Zoo;

    #[test]
    fn mirror_values_are_folders_or_base_urls() {
        assert_eq!(
            "../shared/mirror".parse::<Mirror>().unwrap(),
            Mirror::Dir(PathBuf::from("../shared/mirror"))
        );
        let Mirror::Url(u) = "http://127.0.0.1:8000/files".parse::<Mirror>().unwrap() else {
            panic!("not a URL mirror");
        };
        assert_eq!(u.as_str(), "http://127.0.0.1:8000/files/");
        assert!("".parse::<Mirror>().is_err());
        assert!("http://".parse::<Mirror>().is_err());
    }

    #[test]
    fn the_mirror_comes_first_and_is_searched_by_file_name() {
        let zoo = Zoo::builtin();
        let a = &zoo.model("eresfd-10").unwrap().artifact;
        let m: Mirror = "https://example.org/bfpgm".parse().unwrap();
        let s = sources(a, Some(&m));
        assert_eq!(
            s[0],
            Source::Url("https://example.org/bfpgm/EREsFD-10-pruned.pth".into())
        );
        assert_eq!(s[1], Source::Url(a.urls[0].clone()));
        let d: Mirror = "/srv/m".parse().unwrap();
        assert_eq!(
            sources(a, Some(&d))[0],
            Source::File(PathBuf::from("/srv/m/EREsFD-10-pruned.pth"))
        );
        assert_eq!(sources(a, None), vec![Source::Url(a.urls[0].clone())]);
    }

    #[test]
    fn file_names_are_escaped_in_mirror_urls() {
        let zoo = Zoo::builtin();
        let mut a = zoo.model("eresfd-10").unwrap().artifact.clone();
        a.file = "a b#c.pth".into();
        let m: Mirror = "http://h/x/".parse().unwrap();
        assert_eq!(
            sources(&a, Some(&m))[0],
            Source::Url("http://h/x/a%20b%23c.pth".into())
        );
    }
}
