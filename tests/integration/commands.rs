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
    let token_file = home.path("state/ecs-token");
    std::fs::create_dir_all(home.path("state")).unwrap();
    let token = "TOKENMARKER0123456789abcdef0123456789abcdef";
    std::fs::write(&token_file, token).unwrap();
    let out = home.credvend("http://127.0.0.1:9", &["env", "--config", config]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !stdout.contains(token),
        "the token is never printed:\n{stdout}"
    );
    let commands: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        commands[..4],
        [
            "export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:18169/".to_owned(),
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:18170/role/app".to_owned(),
            format!(
                "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}",
                token_file.display()
            ),
            format!(
                "export AWS_CONTAINER_AUTHORIZATION_TOKEN=\"$(cat {})\"",
                token_file.display()
            ),
        ]
    );

    // Evaluated by a shell that has keys and a profile of its own, as a user's would.
    let script = format!(
        "export AWS_ACCESS_KEY_ID=AKIAUSER AWS_SECRET_ACCESS_KEY=s AWS_PROFILE=dev\n\
         eval \"$({} env --config {config})\"\n\
         echo \"token=$AWS_CONTAINER_AUTHORIZATION_TOKEN\"\n\
         echo \"file=$AWS_SHARED_CREDENTIALS_FILE\"\n\
         echo \"shadow=${{AWS_ACCESS_KEY_ID-unset}} ${{AWS_SECRET_ACCESS_KEY-unset}} ${{AWS_PROFILE-unset}}\"\n",
        env!("CARGO_BIN_EXE_credvend")
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .env_clear()
        .envs(crate::support::scrubbed_env(Some(&home.root)))
        .output()
        .expect("run bash");
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}{}", text(&out.stderr));
    assert!(shown.contains(&format!("token={token}\n")), "{shown}");
    assert!(shown.contains("file=/dev/null\n"), "{shown}");
    assert!(shown.contains("shadow=unset unset unset\n"), "{shown}");

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
    // The inline token comes from the caller's environment: named, never valued.
    assert!(
        stdout
            .trim_end()
            .ends_with(" -e AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        "{stdout}"
    );
    assert!(!stdout.contains(token), "{stdout}");
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
