//! `sign-server`'s API surface: `/openapi.json` matches the routes the server answers, a
//! property-based run of schemathesis over the whole API finds no 5xx, and backpressure turns
//! callers away with 503 + Retry-After instead of queueing without bound.

use interop_tests::server::{pdf, raw, write_config, Server, AUDITOR_KEY, SIGNER_KEY};
use interop_tests::{require_tool, run, text};
use std::io::Write;
use std::process::Command;

/// The endpoints CONTRACT.md promises.
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/v1/sign"),
    ("post", "/v1/batches"),
    ("get", "/v1/batches/{id}"),
    ("get", "/v1/batches/{id}/documents/{doc}"),
    ("post", "/v1/verify"),
    ("get", "/v1/keys"),
    ("get", "/v1/audit"),
    ("get", "/v1/audit/verify"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

#[test]
fn openapi_document_matches_the_routes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let s = Server::start(&cfg, "a");
    let doc = s.get("/openapi.json", None).unwrap().json();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut contract: Vec<(String, String)> = CONTRACT
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    contract.sort();
    assert_eq!(
        documented, contract,
        "the OpenAPI document and CONTRACT.md disagree"
    );
    let zero = "0".repeat(32);
    for (method, path) in &documented {
        let p = path.replace("{id}", &zero).replace("{doc}", &zero);
        let key = if p.starts_with("/v1/audit") {
            AUDITOR_KEY
        } else {
            SIGNER_KEY
        };
        let r = interop_tests::server::request(
            &s.base,
            &method.to_uppercase(),
            &p,
            Some(key),
            &[],
            b"",
        )
        .unwrap();
        // Served by a handler: anything but the router's own 404 or 405.
        assert_ne!(
            r.status, 405,
            "{method} {path} is documented but not routed"
        );
        if r.status == 404 {
            assert_ne!(
                r.json()["code"],
                "not_found",
                "{method} {path} is documented but not routed"
            );
        }
        // Every other method on the same path is not routed.
        for other in ["get", "post", "put", "delete", "patch"] {
            if documented.iter().any(|(m, q)| m == other && q == path) {
                continue;
            }
            let r = interop_tests::server::request(
                &s.base,
                &other.to_uppercase(),
                &p,
                Some(key),
                &[],
                b"",
            )
            .unwrap();
            assert!(
                r.status == 405 || r.status == 404,
                "{other} {path} is routed but not documented ({})",
                r.status
            );
        }
    }
    // Each operation documents its error bodies.
    for (method, path) in &documented {
        let op = &doc["paths"][path][method];
        if path.starts_with("/v1/") {
            let has_err = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with('4'));
            assert!(has_err, "{method} {path} documents no 4xx");
        }
    }
}

#[test]
fn schemathesis_finds_no_server_error() {
    let Some(st) = require_tool("schemathesis") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let s = Server::start(&cfg, "a");
    for key in [SIGNER_KEY, AUDITOR_KEY] {
        let o = run(Command::new(&st)
            .arg("run")
            .arg(format!("{}/openapi.json", s.base))
            .args([
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--seed",
                "7",
            ])
            .args(["-H", &format!("Authorization: Bearer {key}")])
            .current_dir(dir.path())
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .env("NO_COLOR", "1"));
        let t = text(&o);
        assert!(
            o.status.success(),
            "schemathesis found failures:\n{t}\n{}",
            s.log_text()
        );
        // "N generated, N passed": every generated case passed the not-a-server-error check.
        assert!(t.contains(" passed") && !t.contains("Server error"), "{t}");
    }
    assert_eq!(s.get("/readyz", None).unwrap().status, 200);
}

#[test]
fn at_capacity_callers_get_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "max_in_flight = 1");
    let s = Server::start(&cfg, "a");
    let body = pdf(1);
    // One slow upload holds the only signing slot...
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    write!(slow, "POST /v1/sign?key=officer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {SIGNER_KEY}\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    slow.write_all(&body[..100]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // ... so the next caller is turned away at once, told when to come back.
    let r = s
        .post(
            "/v1/sign?key=officer",
            Some(SIGNER_KEY),
            "application/pdf",
            &body,
        )
        .unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["code"], "overloaded");
    assert!(r.header("retry-after").is_some());
    // The slow upload completes and is signed.
    slow.write_all(&body[100..]).unwrap();
    let mut buf = Vec::new();
    std::io::Read::read_to_end(&mut slow, &mut buf).unwrap();
    assert!(
        buf.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..200.min(buf.len())])
    );
    let r = s
        .post(
            "/v1/sign?key=officer",
            Some(SIGNER_KEY),
            "application/pdf",
            &body,
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let _ = raw;
}
