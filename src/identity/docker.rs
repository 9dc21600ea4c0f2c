//! Which Docker container has a bridge address: asked of the engine over its API socket
//! (`GET /containers/json`), when one is configured and readable.
//!
//! The list is kept by address. The engine gives a gone container's address to the next one
//! at once, and a label chooses credentials, so a known address is confirmed for every new
//! connection: one inspect of the container it named (still running, still at that address),
//! which is cheaper than the list. An address that is not known, or no longer confirmed, has
//! the list asked again, at most once per [`MIN_REFRESH`] (a flood of peers that are not
//! containers costs a few small requests a second).
//!
//! The request is plain HTTP/1.0 over the Unix socket (the engine answers it whole and closes),
//! bounded in time and size.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

/// The least time between two lists asked of the engine.
const MIN_REFRESH: Duration = Duration::from_millis(100);
/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// The most of an answer read (a few hundred containers is well under this).
const MAX_ANSWER: u64 = 8 << 20;
/// The label that picks the profile a container is served.
pub const PROFILE_LABEL: &str = "credvend.profile";

/// A container, as a record names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Container {
    /// The full id.
    pub id: String,
    /// Its name, without the leading `/`.
    pub name: String,
    /// The image it was started from, as given to `docker run`.
    pub image: String,
    /// Its `credvend.profile` label.
    pub profile: Option<String>,
}

/// The engine at one socket, and what it last said.
#[derive(Debug)]
pub(super) struct Docker {
    socket: PathBuf,
    known: Mutex<Known>,
}

#[derive(Debug, Default)]
struct Known {
    by_address: HashMap<IpAddr, Arc<Container>>,
    asked: Option<Instant>,
}

/// Why no container was found.
#[derive(Debug, thiserror::Error)]
pub(super) enum DockerError {
    /// The engine lists no container with the address.
    #[error("no container of the Docker engine has this address")]
    NoContainer,
    /// The engine could not be asked.
    #[error("cannot ask the Docker engine at {socket}: {reason}")]
    Engine {
        /// The socket.
        socket: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl Docker {
    /// The engine at `socket` (nothing is asked yet).
    #[must_use]
    pub(super) fn new(socket: &Path) -> Self {
        Self {
            socket: socket.to_owned(),
            known: Mutex::new(Known::default()),
        }
    }

    /// The container with bridge address `ip`. Blocks on the engine on a miss.
    pub(super) fn container(&self, ip: IpAddr) -> Result<Arc<Container>, DockerError> {
        let ip = ip.to_canonical();
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = known.by_address.get(&ip).cloned() {
            match self.confirm(&c.id, ip) {
                Ok(true) => return Ok(c),
                Ok(false) => {
                    // The list is known stale: ask it again whatever the interval says.
                    known.by_address.remove(&ip);
                    known.asked = None;
                }
                Err(e) => return Err(self.engine_error(&e)),
            }
        }
        if known.asked.is_some_and(|at| at.elapsed() < MIN_REFRESH) {
            return Err(DockerError::NoContainer);
        }
        known.asked = Some(Instant::now());
        let listed = self.list().map_err(|e| self.engine_error(&e))?;
        known.by_address = addresses(listed);
        known
            .by_address
            .get(&ip)
            .cloned()
            .ok_or(DockerError::NoContainer)
    }

    fn engine_error(&self, e: &io::Error) -> DockerError {
        DockerError::Engine {
            socket: self.socket.clone(),
            reason: e.to_string(),
        }
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        let (status, body) = self.get("/containers/json")?;
        if status != 200 {
            return Err(bad(&format!("the engine answered {status} to the list")));
        }
        serde_json::from_slice(&body).map_err(|e| bad(&format!("bad JSON: {e}")))
    }

    /// Whether container `id` still runs at `ip` (`false` also when it is gone).
    fn confirm(&self, id: &str, ip: IpAddr) -> io::Result<bool> {
        // Ids are hex from the engine's own list, so they need no escaping in the path.
        let (status, body) = self.get(&format!("/containers/{id}/json"))?;
        if status == 404 {
            return Ok(false);
        }
        if status != 200 {
            return Err(bad(&format!("the engine answered {status} to an inspect")));
        }
        let inspected: Inspected =
            serde_json::from_slice(&body).map_err(|e| bad(&format!("bad JSON: {e}")))?;
        Ok(inspected.state.running
            && inspected
                .network_settings
                .networks
                .values()
                .any(|n| n.addresses().any(|a| a == ip)))
    }

    /// One request: its status and body.
    fn get(&self, path: &str) -> io::Result<(u16, Vec<u8>)> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())?;
        let mut answer = Vec::new();
        stream.take(MAX_ANSWER).read_to_end(&mut answer)?;
        parse_answer(&answer)
    }
}

/// One entry of `GET /containers/json`, the fields credvend reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    network_settings: Option<Settings>,
}

/// What an inspect says, the fields credvend reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    state: State,
    network_settings: Settings,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct State {
    #[serde(default)]
    running: bool,
}

#[derive(Debug, Deserialize)]
struct Settings {
    #[serde(rename = "Networks", default)]
    networks: BTreeMap<String, Endpoint>,
}

#[derive(Debug, Deserialize)]
struct Endpoint {
    #[serde(rename = "IPAddress", default)]
    ip: String,
    #[serde(rename = "GlobalIPv6Address", default)]
    ipv6: String,
}

impl Endpoint {
    fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        [&self.ip, &self.ipv6]
            .into_iter()
            .filter_map(|a| a.parse::<IpAddr>().ok())
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// The status from the status line, and the body after the blank line.
fn parse_answer(answer: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no HTTP header in the answer"))?;
    let line = answer[..split].split(|&b| b == b'\r').next().unwrap_or(b"");
    let line = String::from_utf8_lossy(line);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("not an HTTP status line: {line:?}")))?;
    Ok((status, answer[split + 4..].to_vec()))
}

fn addresses(listed: Vec<Listed>) -> HashMap<IpAddr, Arc<Container>> {
    let mut by_address = HashMap::new();
    for l in listed {
        let container = Arc::new(Container {
            name: l
                .names
                .first()
                .map(|n| n.trim_start_matches('/').to_owned())
                .unwrap_or_default(),
            image: l.image,
            profile: l.labels.and_then(|mut labels| labels.remove(PROFILE_LABEL)),
            id: l.id,
        });
        let networks = l.network_settings.map(|s| s.networks).unwrap_or_default();
        for ip in networks.values().flat_map(Endpoint::addresses) {
            by_address.insert(ip, container.clone());
        }
    }
    by_address
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;
    use crate::test_util::temp_dir;

    const LIST: &str = r#"[{"Id":"0123abcd","Names":["/web"],"Image":"python:3","Labels":{"credvend.profile":"app","other":"x"},"NetworkSettings":{"Networks":{"bridge":{"IPAddress":"172.17.0.2","GlobalIPv6Address":"fd00::2"}}}},{"Id":"ffff","Names":["/db"],"Image":"pg","Labels":null,"NetworkSettings":{"Networks":{"host":{"IPAddress":""}}}}]"#;

    fn answer(status: &str, body: &str) -> Vec<u8> {
        format!("HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n{body}").into_bytes()
    }

    /// A fake engine on a Unix socket answering `answers` in order, one per connection; the
    /// requests it got come back from the join handle.
    fn engine(socket: &Path, answers: Vec<Vec<u8>>) -> std::thread::JoinHandle<Vec<String>> {
        let listener = UnixListener::bind(socket).unwrap();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            for answer in answers {
                let (mut conn, _) = listener.accept().unwrap();
                let mut request = [0u8; 256];
                let n = conn.read(&mut request).unwrap();
                let line = String::from_utf8_lossy(&request[..n]);
                got.push(line.lines().next().unwrap_or_default().to_owned());
                conn.write_all(&answer).unwrap();
            }
            got
        })
    }

    fn inspected(running: bool, ip: &str) -> Vec<u8> {
        let body = format!(
            r#"{{"State":{{"Running":{running}}},"NetworkSettings":{{"Networks":{{"bridge":{{"IPAddress":"{ip}"}}}}}}}}"#
        );
        answer("200 OK", &body)
    }

    #[test]
    fn the_list_maps_each_address_to_its_container() {
        let (status, body) = parse_answer(&answer("200 OK", LIST)).unwrap();
        assert_eq!(status, 200);
        let map = addresses(serde_json::from_slice(&body).unwrap());
        assert_eq!(map.len(), 2, "{map:?}");
        let web = &map[&"172.17.0.2".parse::<IpAddr>().unwrap()];
        assert_eq!(
            **web,
            Container {
                id: "0123abcd".into(),
                name: "web".into(),
                image: "python:3".into(),
                profile: Some("app".into()),
            }
        );
        assert_eq!(&map[&"fd00::2".parse::<IpAddr>().unwrap()], web);
    }

    #[test]
    fn answers_that_are_not_http_are_errors() {
        assert_eq!(parse_answer(&answer("404 Not Found", "{}")).unwrap().0, 404);
        assert!(parse_answer(b"garbage").is_err());
        assert!(parse_answer(b"HTTP/1.0 two hundred\r\n\r\n").is_err());
    }

    #[test]
    fn a_known_address_is_confirmed_and_a_reused_one_listed_again() {
        let dir = temp_dir("docker-socket");
        let socket = dir.join("docker.sock");
        let reused = LIST
            .replace("0123abcd", "4567cdef")
            .replace("/web", "/next");
        let requests = engine(
            &socket,
            vec![
                answer("200 OK", LIST),
                inspected(true, "172.17.0.2"),
                answer("404 Not Found", "{}"),
                answer("200 OK", &reused),
            ],
        );
        let docker = Docker::new(&socket);
        let ip: IpAddr = "172.17.0.2".parse().unwrap();
        let web = docker.container(ip).unwrap();
        assert_eq!(
            (web.name.as_str(), web.profile.as_deref()),
            ("web", Some("app"))
        );
        // Still running there: the same container, after one inspect.
        assert_eq!(docker.container(ip).unwrap(), web);
        // Gone: the address is listed again at once, and now names the new container.
        let next = docker.container(ip).unwrap();
        assert_eq!(next.name, "next");
        assert_eq!(
            requests.join().unwrap(),
            [
                "GET /containers/json HTTP/1.0",
                "GET /containers/0123abcd/json HTTP/1.0",
                "GET /containers/0123abcd/json HTTP/1.0",
                "GET /containers/json HTTP/1.0",
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn misses_ask_the_list_at_most_once_per_interval() {
        let dir = temp_dir("docker-socket-miss");
        let socket = dir.join("docker.sock");
        let requests = engine(&socket, vec![answer("200 OK", LIST)]);
        let docker = Docker::new(&socket);
        for _ in 0..3 {
            let miss = docker.container("172.17.0.9".parse().unwrap()).unwrap_err();
            assert!(matches!(miss, DockerError::NoContainer), "{miss}");
        }
        assert_eq!(requests.join().unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_engine_that_is_not_there_is_named_in_the_error() {
        let docker = Docker::new(Path::new("/nonexistent/docker.sock"));
        let e = docker.container("172.17.0.2".parse().unwrap()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot ask the Docker engine at /nonexistent/docker.sock: "),
            "{e}"
        );
    }
}
