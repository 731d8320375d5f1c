//! Security managers as separate processes on a libp2p network, on loopback with free
//! ports: four nodes, crossings through their APIs, one node SIGKILLed and started
//! again mid-traffic; one chain at the end, nothing lost, nothing admitted twice. An
//! intruder with unregistered keys cannot join. Every wait is on a condition with a
//! generous deadline (a loaded 2-core machine), and the test stops exactly the children
//! it started.
#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{json, vkm};
use serde_json::Value;

/// The children this test started, stopped when it ends (also on a failure): asked with
/// SIGTERM first, so that `vkm testnet up` stops the nodes it started in turn, then
/// killed if still running after a while.
struct Nodes(Vec<Option<Child>>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in self.0.iter_mut().flatten() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for child in self.0.iter_mut().flatten() {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start(config: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.with_file_name("node.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_vkm"))
        .args(["node", "run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn get(api: &str, path: &str) -> Option<Value> {
    let mut response = agent().get(&format!("{api}{path}")).call().ok()?;
    (response.status() == 200).then(|| response.body_mut().read_json().ok())?
}

fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn status(api: &str) -> Option<Value> {
    get(api, "/status")
}

fn height(api: &str) -> u64 {
    status(api).and_then(|s| s["height"].as_u64()).unwrap_or(0)
}

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let log = entry.path().join("node.log");
        if let Ok(text) = std::fs::read_to_string(&log) {
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out.push_str(&format!("== {}\n{}\n", log.display(), tail.join("\n")));
        }
    }
    out
}

/// `vkm testnet init` of `sms` managers at 8 bits (and `extra` flags) into a fresh
/// temporary folder named after `name`; the folder and the printed JSON.
fn init_testnet(name: &str, sms: u32, extra: &[&str]) -> (PathBuf, Value) {
    let dir = std::env::temp_dir().join(format!("vkm-testnet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sms = sms.to_string();
    let mut args = vec![
        "testnet",
        "init",
        "--sms",
        &sms,
        "--out",
        dir.to_str().unwrap(),
        "--difficulty-bits",
        "8",
        "--json",
    ];
    args.extend_from_slice(extra);
    let init = json(&vkm(&args));
    (dir, init)
}

#[test]
fn four_nodes_survive_a_kill_and_admit_every_crossing_once() {
    let (dir, init) = init_testnet("kill", 4, &["--period", "0.5"]);
    let nodes = init["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    for node in nodes {
        for field in ["id", "config", "api", "listen"] {
            assert!(!node[field].is_null(), "{field} in {node}");
        }
        assert!(
            node["api"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
        assert!(
            node["listen"]
                .as_str()
                .unwrap()
                .starts_with("/ip4/127.0.0.1/tcp/")
        );
    }
    let configs: Vec<PathBuf> = nodes
        .iter()
        .map(|n| PathBuf::from(n["config"].as_str().unwrap()))
        .collect();
    let apis: Vec<String> = nodes
        .iter()
        .map(|n| n["api"].as_str().unwrap().to_owned())
        .collect();
    let mut children = Nodes(configs.iter().map(|c| Some(start(c))).collect());
    wait_until(
        "every node connected to the three others",
        Duration::from_secs(120),
        || {
            apis.iter()
                .all(|api| status(api).is_some_and(|s| s["peers"].as_u64() == Some(3)))
        },
    );

    // An intruder: a node whose keys the registry does not list.
    let intruder_dir = dir.join("intruder");
    std::fs::create_dir_all(&intruder_dir).unwrap();
    let keys = json(&vkm(&[
        "keygen",
        "--out",
        intruder_dir.to_str().unwrap(),
        "--name",
        "intruder",
        "--json",
    ]));
    assert!(!keys.is_null());
    let sm1 = std::fs::read_to_string(&configs[0]).unwrap();
    let mut intruder: toml::Table = toml::from_str(&sm1).unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    intruder.insert("id".into(), 1.into());
    intruder.insert(
        "listen".into(),
        format!("/ip4/127.0.0.1/tcp/{}", free()).into(),
    );
    let intruder_api = format!("127.0.0.1:{}", free());
    intruder.insert("api".into(), intruder_api.clone().into());
    intruder.insert("store".into(), "chain.redb".into());
    intruder.insert(
        "genesis".into(),
        dir.join("genesis.block").to_str().unwrap().into(),
    );
    intruder.insert("signing_key".into(), "intruder.signing.pem".into());
    intruder.insert("encryption_key".into(), "intruder.encryption.pem".into());
    let intruder_config = intruder_dir.join("node.toml");
    std::fs::write(&intruder_config, toml::to_string(&intruder).unwrap()).unwrap();
    children.0.push(Some(start(&intruder_config)));
    let intruder_api = format!("http://{intruder_api}");
    wait_until(
        "registered nodes refused the intruder",
        Duration::from_secs(60),
        || {
            apis.iter().any(|api| {
                get_text(api, "/metrics")
                    .and_then(|m| metric(&m, "vkm_connections_denied_total"))
                    .is_some_and(|n| n > 0.0)
            })
        },
    );
    wait_until("the intruder has no peer", Duration::from_secs(30), || {
        status(&intruder_api).is_some_and(|s| s["peers"] == 0)
    });
    assert!(apis.iter().all(|api| status(api).unwrap()["peers"] == 3));
    if let Some(mut child) = children.0.pop().flatten() {
        let _ = child.kill();
        let _ = child.wait();
    }

    // Bad input through the API changes nothing.
    let before = status(&apis[0]).unwrap();
    let mut response = agent()
        .post(&format!("{}/crossings", apis[0]))
        .send_json(serde_json::json!({ "request": "00ff" }))
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.body_mut().read_json().unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("request"),
        "{error}"
    );
    assert_eq!(status(&apis[0]).unwrap()["mempool"], before["mempool"]);

    // Traffic through the RSUs' tool, while node 2 is killed and started again.
    let traffic_dir = dir.clone();
    let traffic = std::thread::spawn(move || {
        vkm(&[
            "testnet",
            "traffic",
            "--dir",
            traffic_dir.to_str().unwrap(),
            "--traffic",
            "300",
            "--duration",
            "12",
            "--drain",
            "90",
            "--json",
        ])
    });
    wait_until("node 2 mined into", Duration::from_secs(60), || {
        height(&apis[1]) >= 3
    });
    let mut victim = children.0[1].take().unwrap();
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    let at_kill = height(&apis[0]);
    wait_until("the others went on", Duration::from_secs(60), || {
        height(&apis[0]) >= at_kill + 3
    });
    children.0[1] = Some(start(&configs[1]));
    let report = json(&traffic.join().unwrap());
    let text = format!("{report}\n{}", logs(&dir));
    assert!(report["crossings"].as_u64().unwrap() > 10, "{text}");
    assert_eq!(report["lost"], 0, "{text}");
    assert_eq!(report["admitted_duplicates"], 0, "{text}");
    assert_eq!(report["admitted_unique"], report["crossings"], "{text}");
    for field in ["delay_ms_p50", "delay_ms_p95", "delay_ms_max"] {
        assert!(report[field].as_f64().unwrap() > 0.0, "{field}: {text}");
    }

    // One chain: every node on the same tip, the restarted one caught up.
    wait_until("one chain", Duration::from_secs(120), || {
        let tips: Vec<Option<Value>> = apis
            .iter()
            .map(|a| status(a).map(|s| s["tip"].clone()))
            .collect();
        tips.iter().all(|t| t.is_some() && *t == tips[0])
    });
    let block = get(&apis[2], "/blocks/1").unwrap();
    assert_eq!(block["height"], 1);
    assert!(get(&apis[2], "/blocks/100000").is_none());
    let metrics = get_text(&apis[0], "/metrics").unwrap();
    assert!(metric(&metrics, "vkm_height").unwrap() >= 3.0, "{metrics}");

    // Graceful stop: SIGTERM, the store closes, exit 0.
    for child in children.0.iter_mut().flatten() {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
    }
    for child in children.0.iter_mut() {
        let mut c = child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = c.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "a node did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "{status}: {}", logs(&dir));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn get_text(api: &str, path: &str) -> Option<String> {
    let mut response = agent().get(&format!("{api}{path}")).call().ok()?;
    (response.status() == 200).then(|| response.body_mut().read_to_string().ok())?
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// `vkm testnet up` starts every node as a child process, and an interrupt (Ctrl-C)
/// stops them all: their APIs go away and `up` exits cleanly.
#[test]
fn testnet_up_starts_every_node_and_an_interrupt_stops_them() {
    let (dir, init) = init_testnet("up", 3, &[]);
    let apis: Vec<String> = init["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["api"].as_str().unwrap().to_owned())
        .collect();
    let up = Command::new(env!("CARGO_BIN_EXE_vkm"))
        .args(["testnet", "up", "--dir", dir.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = Nodes(vec![Some(up)]);
    wait_until(
        "every node up and connected",
        Duration::from_secs(120),
        || {
            apis.iter()
                .all(|api| status(api).is_some_and(|s| s["peers"].as_u64() == Some(2)))
        },
    );
    let pid = guard.0[0].as_ref().unwrap().id();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut up = guard.0[0].take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let exit = loop {
        if let Some(status) = up.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "testnet up did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit}");
    wait_until("every node stopped", Duration::from_secs(30), || {
        apis.iter().all(|api| status(api).is_none())
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// A testnet description that does not hold together is refused with a message, not a
/// panic.
#[test]
fn traffic_refuses_an_inconsistent_testnet() {
    let dir = std::env::temp_dir().join(format!("vkm-testnet-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("testnet.json"),
        r#"{"nodes": [], "central_managers": [], "rows": 5, "cols": 5,
            "highways_per_edge": 5, "difficulty_bits": 8, "genesis": "genesis.block"}"#,
    )
    .unwrap();
    let out = vkm(&[
        "testnet",
        "traffic",
        "--dir",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("one node per domain"), "{stderr}");
    std::fs::write(dir.join("testnet.json"), "{").unwrap();
    let out = vkm(&[
        "testnet",
        "traffic",
        "--dir",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("testnet.json"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// With every source manager down, the RSUs ask again until the traffic and the drain are
/// over, then count the crossings lost: the tool ends, and says so.
#[test]
fn traffic_gives_up_on_managers_that_never_answer() {
    let (dir, _) = init_testnet("down", 2, &[]);
    let report = json(&vkm(&[
        "testnet",
        "traffic",
        "--dir",
        dir.to_str().unwrap(),
        "--traffic",
        "3000",
        "--duration",
        "1",
        "--drain",
        "1",
        "--json",
    ]));
    assert!(report["crossings"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["lost"], report["crossings"], "{report}");
    assert_eq!(report["accepted"], 0, "{report}");
    assert!(report["retries"].as_u64().unwrap() > 0, "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}
