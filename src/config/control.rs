//! `[control]` and `[metrics]`: where the control socket goes (the daemon and the commands
//! that talk to it must agree, so both compute it here from the same config and environment),
//! and the optional metrics listener, loopback unless the file opts out.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::raw::RawMetrics;
use super::settings::{
    APP_NAME, CONTROL_SOCKET_NAME, ControlSettings, ENV_RUNTIME_DIRECTORY, ENV_XDG_RUNTIME_DIR,
    MetricsSettings,
};
use crate::env::Env;

type Result<T> = std::result::Result<T, ConfigError>;

/// The longest socket path the kernel takes (`sun_path` less its NUL: 108 on Linux, 104 on
/// macOS); the shorter, so a config is valid on both.
const MAX_SOCKET_PATH: usize = 103;

/// `[control]`: `path` (`~` expanded; relative: under the state directory), else `$RUNTIME_DIRECTORY/control.sock` (systemd's
/// `RuntimeDirectory=`), else `$XDG_RUNTIME_DIR/credvend/control.sock` (the `directories`
/// crate's runtime directory, Linux only), else `control.sock` in the state directory.
pub(super) fn control(
    enabled: Option<bool>,
    path: Option<PathBuf>,
    state_dir: &Path,
    env: &Env,
) -> Result<ControlSettings> {
    if !enabled.unwrap_or(true) {
        return Ok(ControlSettings { path: None });
    }
    let (key, path) = if let Some(path) = path {
        ("control.path".to_owned(), state_dir.join(path))
    } else if let Some(dir) = env.get(ENV_RUNTIME_DIRECTORY) {
        // Several RuntimeDirectory= entries are joined with ':'; the first is ours.
        let first = dir.split(':').next().unwrap_or_default();
        let key = format!("${ENV_RUNTIME_DIRECTORY}");
        (key, PathBuf::from(first).join(CONTROL_SOCKET_NAME))
    } else if let Some(dir) = env
        .get(ENV_XDG_RUNTIME_DIR)
        .filter(|_| cfg!(target_os = "linux"))
    {
        let key = format!("${ENV_XDG_RUNTIME_DIR}");
        (key, Path::new(dir).join(APP_NAME).join(CONTROL_SOCKET_NAME))
    } else {
        ("state_dir".to_owned(), state_dir.join(CONTROL_SOCKET_NAME))
    };
    if path.is_relative() {
        return Err(ConfigError::invalid(
            key,
            format!("{path:?} is not an absolute path"),
        ));
    }
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(ConfigError::invalid(
            key,
            format!(
                "the control socket {} is {len} bytes long, more than a Unix socket path can \
                 be ({MAX_SOCKET_PATH}); set control.path to a shorter one",
                path.display()
            ),
        ));
    }
    Ok(ControlSettings { path: Some(path) })
}

/// `[metrics]`: `listen` must be loopback unless `allow_non_loopback = true`.
pub(super) fn metrics(raw: &RawMetrics) -> Result<MetricsSettings> {
    let Some(text) = &raw.listen else {
        return Ok(MetricsSettings { listen: None });
    };
    let addr: SocketAddr = text.parse().map_err(|_| {
        ConfigError::invalid(
            "metrics.listen",
            format!("{text:?} is not an address like 127.0.0.1:9169 (IPv6 in brackets)"),
        )
    })?;
    if !addr.ip().is_loopback() && !raw.allow_non_loopback.unwrap_or(false) {
        return Err(ConfigError::invalid(
            "metrics.listen",
            format!(
                "{addr} is not a loopback address; the metrics name every profile and the \
                 health answer says why one fails: set allow_non_loopback = true to serve \
                 them there anyway"
            ),
        ));
    }
    Ok(MetricsSettings { listen: Some(addr) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawControl;

    fn path(raw: &RawControl, pairs: &[(&str, &str)]) -> Result<Option<PathBuf>> {
        let env = Env::from_pairs(pairs.iter().copied().chain([("HOME", "/home/u")]));
        let written = raw
            .path
            .as_deref()
            .map(|p| p.replace("~/", "/home/u/").into());
        control(raw.enabled, written, Path::new("/var/lib/cv"), &env).map(|c| c.path)
    }

    #[test]
    fn the_socket_goes_to_the_path_then_systemd_then_xdg_then_the_state_directory() {
        let none = RawControl::default();
        let written = RawControl {
            enabled: None,
            path: Some("~/c.sock".into()),
        };
        let systemd = [
            ("RUNTIME_DIRECTORY", "/run/cv:/run/other"),
            ("XDG_RUNTIME_DIR", "/run/user/7"),
        ];
        assert_eq!(
            path(&written, &systemd).unwrap(),
            Some("/home/u/c.sock".into())
        );
        assert_eq!(
            path(&none, &systemd).unwrap(),
            Some("/run/cv/control.sock".into())
        );
        if cfg!(target_os = "linux") {
            assert_eq!(
                path(&none, &systemd[1..]).unwrap(),
                Some("/run/user/7/credvend/control.sock".into())
            );
        }
        assert_eq!(
            path(&none, &[]).unwrap(),
            Some("/var/lib/cv/control.sock".into())
        );
        let relative = RawControl {
            enabled: None,
            path: Some("sock".into()),
        };
        assert_eq!(
            path(&relative, &[]).unwrap(),
            Some("/var/lib/cv/sock".into())
        );
        let off = RawControl {
            enabled: Some(false),
            path: None,
        };
        assert_eq!(path(&off, &systemd).unwrap(), None);
    }

    #[test]
    fn a_socket_path_too_long_for_the_kernel_is_refused_naming_the_key() {
        let long = RawControl {
            enabled: None,
            path: Some(format!("/{}", "x".repeat(120))),
        };
        let err = path(&long, &[]).unwrap_err();
        assert_eq!(err.key(), Some("control.path"));
        assert!(
            err.to_string().contains("more than a Unix socket path"),
            "{err}"
        );
    }

    #[test]
    fn metrics_listen_on_loopback_only_unless_opted_out() {
        let raw = |listen: &str, allow: Option<bool>| RawMetrics {
            listen: Some(listen.into()),
            allow_non_loopback: allow,
        };
        assert_eq!(metrics(&RawMetrics::default()).unwrap().listen, None);
        assert_eq!(
            metrics(&raw("[::1]:9169", None)).unwrap().listen,
            Some("[::1]:9169".parse().unwrap())
        );
        let err = metrics(&raw("0.0.0.0:9169", None)).unwrap_err();
        assert_eq!(err.key(), Some("metrics.listen"));
        assert!(err.to_string().contains("allow_non_loopback"), "{err}");
        assert!(metrics(&raw("0.0.0.0:9169", Some(true))).is_ok());
        let err = metrics(&raw("localhost:9", None)).unwrap_err();
        assert!(err.to_string().contains("not an address"), "{err}");
    }
}
