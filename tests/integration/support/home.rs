//! A throwaway HOME with `.aws/config` and `.aws/credentials`, removed on drop, and a runner
//! for the real `credvend` binary inside it with a scrubbed environment.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temporary home directory.
pub struct Home {
    pub root: PathBuf,
    pub extra_env: Vec<(String, String)>,
}

impl Home {
    /// An empty home with an `.aws` folder.
    pub fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("credvend-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join(".aws")).expect("create temp home");
        Self {
            root,
            extra_env: Vec::new(),
        }
    }

    /// Writes `~/.aws/config`.
    pub fn config(&self, text: &str) -> &Self {
        std::fs::write(self.root.join(".aws/config"), text).expect("write config");
        self
    }

    /// Writes `~/.aws/credentials`.
    pub fn credentials(&self, text: &str) -> &Self {
        std::fs::write(self.root.join(".aws/credentials"), text).expect("write credentials");
        self
    }

    /// A path inside the home.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Runs `credvend ARGS` with this home, STS at `sts_url`, and nothing else from our env.
    pub fn credvend(&self, sts_url: &str, args: &[&str]) -> Output {
        self.credvend_with(sts_url, args, &[])
    }

    /// Like [`credvend`](Self::credvend), with more variables.
    pub fn credvend_with(&self, sts_url: &str, args: &[&str], vars: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_credvend"))
            .args(args)
            .env_clear()
            .envs(super::scrubbed_env(Some(&self.root)))
            .env("AWS_ENDPOINT_URL_STS", sts_url)
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(vars.iter().copied())
            .output()
            .expect("run credvend")
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Text of an output stream.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
