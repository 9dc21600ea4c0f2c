//! `credvend profiles` and `credvend env`, run as a user would: real binary, temp HOME.

use crate::support::home::{Home, text};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKEN+/=";

#[test]
fn profiles_lists_how_each_resolves_with_keys_masked_and_no_secret() {
    let home = Home::new();
    home.credentials(&format!(
        "[base]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {SECRET}\n\n\
         [sess]\naws_access_key_id = ASIAIOSFODNN7SESSION\naws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n"
    ))
    .config(
        "[profile app]\nrole_arn = arn:aws:iam::123456789012:role/app\nsource_profile = base\nregion = eu-west-1\n\n\
         [profile env]\nrole_arn = arn:aws:iam::123456789012:role/app\ncredential_source = Environment\n",
    );
    let out = home.credvend("http://127.0.0.1:9", &["profiles"]);
    let trace = home.credvend_with(
        "http://127.0.0.1:9",
        &["profiles"],
        &[("RUST_LOG", "trace")],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{stdout}"))
            .to_owned()
    };
    assert!(line("base").contains("static keys ****MPLE"), "{stdout}");
    assert!(line("base").contains(".aws/credentials:1"), "{stdout}");
    assert!(line("sess").contains("session keys ****SION"), "{stdout}");
    assert!(
        line("app").contains("role arn:aws:iam::123456789012:role/app"),
        "{stdout}"
    );
    assert!(line("app").contains(".aws/config:1"), "{stdout}");
    assert!(line("app").contains("eu-west-1"), "{stdout}");
    assert!(line("env").contains("Environment"), "{stdout}");
    for shown in [
        stdout,
        text(&out.stderr),
        text(&trace.stdout),
        text(&trace.stderr),
    ] {
        assert!(
            !shown.contains(SECRET) && !shown.contains(TOKEN),
            "secret shown:\n{shown}"
        );
        assert!(
            !shown.contains("AKIAIOSFODNN7EXAMPLE"),
            "full key id shown:\n{shown}"
        );
    }
}

#[test]
fn profiles_names_file_and_line_of_a_malformed_file() {
    let home = Home::new();
    home.config("[profile ok]\nregion = us-east-1\n[profile broken\n");
    let out = home.credvend("http://127.0.0.1:9", &["profiles"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains(".aws/config:3"), "{stderr}");
}

#[test]
fn env_prints_exports_and_docker_flags_for_the_configured_listeners() {
    let home = Home::new();
    let config = home.path("credvend.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n[[imds]]\nlisten = \"127.0.0.1:18169\"\nprofile = \"app\"\n\
             [ecs]\nlisten = \"127.0.0.1:18170\"\nprofiles = [\"app\", \"other\"]\n",
            home.path("state").display()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = home.credvend("http://127.0.0.1:9", &["env", "--config", config]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token_file = home.path("state/ecs-token");
    assert_eq!(
        stdout,
        format!(
            "export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:18169\n\
             export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:18170/role/app\n\
             export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}\n",
            token_file.display()
        )
    );

    let out = home.credvend(
        "http://127.0.0.1:9",
        &["env", "--config", config, "--profile", "other", "--docker"],
    );
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("--network=host "), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "-v {}:/run/credvend/ecs-token:ro",
            token_file.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("-e AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:18170/role/other"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-e AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/credvend/ecs-token"),
        "{stdout}"
    );
    // `other` has no IMDS listener: no metadata endpoint for it.
    assert!(
        !stdout.contains("AWS_EC2_METADATA_SERVICE_ENDPOINT"),
        "{stdout}"
    );

    let out = home.credvend(
        "http://127.0.0.1:9",
        &["env", "--config", config, "--profile", "nosuch"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("nosuch"),
        "{}",
        text(&out.stderr)
    );
}
