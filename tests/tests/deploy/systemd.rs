//! The systemd units: `systemd-analyze verify`, and what they promise against their settings.

use weir_e2e::deploy::settings::{env_file, get, unit_value};
use weir_e2e::deploy::{Scratch, described, require_tool, run, shipped};

const UNITS: [&str; 2] = ["weir-master", "weir-worker"];

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let analyze = require_tool("systemd-analyze", "systemd");
    let scratch = Scratch::new("units");
    let weir = weir_e2e::cluster::weir_binary().display().to_string();
    let mut paths = Vec::new();
    for unit in UNITS {
        let text = shipped(&format!("deploy/systemd/{unit}.service"));
        // verify checks that ExecStart's program exists: the one substitution is where the
        // binary is (/usr/local/bin/weir on a host, the test's build here).
        assert!(
            text.contains("ExecStart=/usr/local/bin/weir "),
            "{unit}: {text}"
        );
        let text = text.replace("/usr/local/bin/weir", &weir);
        paths.push(
            scratch
                .write(&format!("{unit}.service"), &text)
                .display()
                .to_string(),
        );
    }
    let args: Vec<&str> = std::iter::once("verify")
        .chain(paths.iter().map(String::as_str))
        .collect();
    let output = run(&analyze, &args);
    // verify exits 0 on some problems (an unknown key is "ignoring"): any word from it is one.
    assert!(
        output.status.success() && output.stderr.is_empty() && output.stdout.is_empty(),
        "systemd-analyze found problems in the units:\n{}",
        described(&analyze, &args, &output)
    );
}

#[test]
fn systemd_units_match_their_settings_files() {
    for (unit, role) in [("weir-master", "master"), ("weir-worker", "worker")] {
        let text = shipped(&format!("deploy/systemd/{unit}.service"));
        let value = |key: &str| unit_value(&text, "Service", key);
        for (key, expected) in [
            ("Type", "notify"),
            ("User", "weir"),
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("Restart", "on-failure"),
            ("ExecStart", &format!("/usr/local/bin/weir {role}") as &str),
        ] {
            assert_eq!(value(key).as_deref(), Some(expected), "{unit}: {key}");
        }
        // EnvironmentFile names the env file shipped beside the unit, which names the settings
        // file shipped beside it.
        let environment = value("EnvironmentFile").expect("an EnvironmentFile");
        assert_eq!(environment, format!("/etc/weir/{role}.env"), "{unit}");
        let env = env_file(&shipped(&format!("deploy/systemd/{role}.env")));
        let config_variable = format!("WEIR_{}_CONFIG", role.to_uppercase());
        assert!(
            env.contains(&(config_variable.clone(), format!("/etc/weir/{role}.toml"))),
            "{role}.env should set {config_variable}=/etc/weir/{role}.toml: {env:?}"
        );
    }
    // The master writes its data directory, and only it.
    let master = shipped("deploy/systemd/weir-master.service");
    let data_dir = get(&shipped("deploy/systemd/master.toml"), None, "data_dir")
        .expect("master.toml sets data_dir");
    assert_eq!(
        unit_value(&master, "Service", "ReadWritePaths"),
        Some(data_dir.clone())
    );
    assert_eq!(
        unit_value(&master, "Service", "StateDirectory").map(|dir| format!("/var/lib/{dir}")),
        Some(data_dir)
    );
    // The worker's budget is the unit's MemoryMax: its settings set no other.
    let worker = shipped("deploy/systemd/weir-worker.service");
    let memory_max = unit_value(&worker, "Service", "MemoryMax").expect("a MemoryMax");
    assert!(memory_max.ends_with('G'), "{memory_max}");
    assert_eq!(
        get(&shipped("deploy/systemd/worker.toml"), None, "memory_limit"),
        None,
        "worker.toml must leave memory_limit to the unit's MemoryMax= (the cgroup limit)"
    );
}
