//! The Explorer as a local service: it serves on the port it printed, wants
//! the per-run token, checks Host and Origin, and survives a request that
//! announces an enormous body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn request(port: u16, text: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(text.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the status line, the headers and the body.
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        // Headers complete, then the body its Content-Length announces.
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if out.len() >= end + 4 + len {
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn explorer_checks_host_origin_token_and_body_size() {
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../specs/doc/claim-08-shadow-freed-in-module-exit.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_klpcheck"))
        .args(["explore", "--addr", "127.0.0.1:0"])
        .arg(&spec)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "... on http://127.0.0.1:PORT/?token=TOKEN (stop with Ctrl-C)"
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap();
    let hostport = url.trim_start_matches("http://").split('/').next().unwrap();
    let port: u16 = hostport.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0, "{line}");
    let token = url.split("token=").nth(1).unwrap();
    let get = |path: &str, extra: &str| {
        request(
            port,
            &format!("GET {path} HTTP/1.1\r\nHost: {hostport}\r\n{extra}Connection: close\r\n\r\n"),
        )
    };
    assert!(get("/", "").starts_with("HTTP/1.1 403"), "no token");
    let page = get(&format!("/?token={token}"), "");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("SameSite=Strict"), "{page}");
    let cookie = format!("Cookie: klpcheck_explorer={token}\r\n");
    assert!(get("/.status", &cookie).starts_with("HTTP/1.1 200"));
    assert!(get("/.status", "Cookie: klpcheck_explorer=0\r\n").starts_with("HTTP/1.1 403"));
    let rebinding = request(
        port,
        &format!("GET /.status HTTP/1.1\r\nHost: evil.example:{port}\r\n{cookie}Connection: close\r\n\r\n"),
    );
    assert!(rebinding.starts_with("HTTP/1.1 403"), "{rebinding}");
    let cross = request(
        port,
        &format!("POST /.runtocompletion HTTP/1.1\r\nHost: {hostport}\r\nOrigin: http://evil.example\r\n{cookie}Content-Length: 0\r\nConnection: close\r\n\r\n"),
    );
    assert!(cross.starts_with("HTTP/1.1 403"), "{cross}");
    // An enormous announced body: no answer, and the server lives on.
    let _ = request(
        port,
        &format!("POST /.runtocompletion HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 9223372036854775807\r\n\r\n"),
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "the Explorer died");
    assert!(get("/.status", &cookie).starts_with("HTTP/1.1 200"));
    let states = get("/.states/0", &cookie);
    assert!(states.starts_with("HTTP/1.1 200"), "{states}");
    // States in kernel terms ("Complete State"), not a Rust Debug dump with
    // bit masks.
    assert!(states.contains("klp_patches: ["), "{states}");
    assert!(states.contains("task 1: patch_state"), "{states}");
    for debug in [
        "obj_patched",
        "modules_loaded",
        "PatchRec",
        "tif_patch_pending",
    ] {
        assert!(!states.contains(debug), "{debug} in {states}");
    }
    let _ = child.kill();
    let _ = child.wait();
}
