//! The daemon's lifecycle as a supervisor sees it: after SIGTERM it exits 0 and its listeners
//! are closed. (That a request in flight is answered first is shown in-process, in the
//! daemon's own tests, where the request can be held at STS.)

use std::net::TcpStream;

use super::daemon;
use crate::support::http::imds_credentials;

#[test]
fn sigterm_stops_the_daemon_with_exit_status_zero() {
    let Some((_, mut daemon)) = daemon(&[true]) else {
        return;
    };
    let url = daemon.imds_url(true);
    // Serving works first, so the exit is from a daemon that was really up.
    let (_, served) = imds_credentials(&url);
    assert!(served["AccessKeyId"].is_string());
    let status = daemon.stop();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", daemon.stderr());
    let addr = url.trim_start_matches("http://");
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener at {addr} is closed after exit"
    );
}
