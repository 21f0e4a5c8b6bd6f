//! A small threaded HTTP/1.1 file server for the download tests, on 127.0.0.1 and std::net only.
//!
//! It serves in-memory files, answers `Range: bytes=N-` with `206 Partial Content` (or `416`
//! past the end), logs every request, and can be told to misbehave on the next request for a
//! path: cut the body short, corrupt a byte, ignore the range, or answer with an error status.
//! Every response closes its connection, so each request is a fresh, visible event.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One misbehaviour, applied to a single response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Announce the full length, send only this many body bytes, then close.
    Cut(usize),
    /// Flip the bits of the file byte at this offset.
    Corrupt(usize),
    /// Answer a range request with the whole file and `200`.
    IgnoreRange,
    /// Answer with this status and no body.
    Status(u16),
}

/// A request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request path, e.g. `/files/a.bin`.
    pub path: String,
    /// `N` of a `Range: bytes=N-` header.
    pub range_from: Option<u64>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    faults: HashMap<String, VecDeque<Fault>>,
    log: Vec<Request>,
}

/// A running server; it lives until the test process ends.
pub struct Server {
    base: String,
    state: Arc<Mutex<State>>,
}

impl Server {
    /// Starts a server on a free local port.
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || handle(stream, &state));
            }
        });
        Server { base, state }
    }

    /// Serves `data` at `path` (which starts with `/`).
    pub fn serve(&self, path: &str, data: &[u8]) {
        self.lock().files.insert(path.to_string(), data.to_vec());
    }

    /// Queues a fault for the next request of `path`.
    pub fn fault(&self, path: &str, fault: Fault) {
        self.lock()
            .faults
            .entry(path.to_string())
            .or_default()
            .push_back(fault);
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().log.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn handle(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range_from = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("range")
        {
            range_from = value
                .trim()
                .strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<u64>().ok());
        }
    }
    let (file, fault) = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.log.push(Request {
            path: path.clone(),
            range_from,
        });
        let fault = s.faults.get_mut(&path).and_then(VecDeque::pop_front);
        (s.files.get(&path).cloned(), fault)
    };
    let mut out = stream;
    let _ = respond(&mut out, file, fault, range_from);
    let _ = out.flush();
    let _ = out.shutdown(Shutdown::Both);
}

fn respond(
    out: &mut TcpStream,
    file: Option<Vec<u8>>,
    fault: Option<Fault>,
    range_from: Option<u64>,
) -> std::io::Result<()> {
    if let Some(Fault::Status(code)) = fault {
        return write!(
            out,
            "HTTP/1.1 {code} Fault\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    let Some(mut data) = file else {
        return write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    if let Some(Fault::Corrupt(at)) = fault {
        data[at] ^= 0xff;
    }
    let len = data.len();
    let start = match range_from {
        Some(n) if fault != Some(Fault::IgnoreRange) => n as usize,
        _ => 0,
    };
    if start >= len && start > 0 {
        return write!(
            out,
            "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
    if start > 0 {
        write!(
            out,
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{len}\r\n",
            len - 1
        )?;
    } else {
        write!(out, "HTTP/1.1 200 OK\r\n")?;
    }
    write!(
        out,
        "Content-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
        len - start
    )?;
    let body = &data[start..];
    let sent = match fault {
        Some(Fault::Cut(n)) => &body[..n.min(body.len())],
        _ => body,
    };
    out.write_all(sent)
}
