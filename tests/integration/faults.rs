//! `credvend check` through a fault-injecting proxy in front of moto (signature checking on):
//! transient STS failures are retried, and a clock two hours behind AWS is corrected from the
//! `Date` of STS's "Signature expired" answer.

use std::sync::atomic::Ordering;

use time::Duration;

use crate::support::home::{Home, text};
use crate::support::moto::moto;
use crate::support::proxy::{Fault, FaultProxy};

fn run_check(sts_url: &str) -> (bool, String, String) {
    let m = moto().expect("checked by caller");
    let home = Home::new();
    home.credentials(&format!(
        "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        m.access_key_id, m.secret_access_key
    ))
    .config(&format!(
        "[profile app]\nrole_arn = {}\nsource_profile = base\nrole_session_name = faults\n",
        m.role("app")
    ));
    let out = home.credvend(sts_url, &["check", "--profile", "app"]);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn check_succeeds_when_the_first_answer_is_throttling() {
    let Some(m) = moto() else { return };
    let proxy = FaultProxy::start(&m.url, Fault::FirstThrottling);
    let (ok, stdout, stderr) = run_check(&proxy.url);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains(&m.assumed("app", "faults")), "{stdout}");
    assert_eq!(proxy.rejected.load(Ordering::SeqCst), 1);
    assert!(
        proxy.requests.load(Ordering::SeqCst) >= 3,
        "retry, then GetCallerIdentity"
    );
}

#[test]
fn check_succeeds_when_the_first_answer_is_a_500() {
    let Some(m) = moto() else { return };
    let proxy = FaultProxy::start(&m.url, Fault::First500);
    let (ok, stdout, stderr) = run_check(&proxy.url);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains(&m.assumed("app", "faults")), "{stdout}");
    assert_eq!(proxy.rejected.load(Ordering::SeqCst), 1);
}

#[test]
fn check_corrects_a_clock_two_hours_behind_aws() {
    let Some(m) = moto() else { return };
    let proxy = FaultProxy::start(&m.url, Fault::ClockAhead(Duration::hours(2)));
    let (ok, stdout, stderr) = run_check(&proxy.url);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains(&m.assumed("app", "faults")), "{stdout}");
    // Only the first request was rejected; the corrected offset served every later call.
    assert_eq!(proxy.rejected.load(Ordering::SeqCst), 1, "{stderr}");
    assert!(
        stderr.contains("local clock is 2h00m behind AWS; correcting signatures by +2h00m"),
        "{stderr}"
    );
    assert!(stdout.contains("clock:"), "{stdout}");
}
