//! A local TLS server for `--check-endpoints` tests: a rustls listener on a free loopback
//! port that serves whichever certificate it was last given, until dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Current = Arc<Mutex<Option<Arc<rustls::ServerConfig>>>>;

pub struct TlsServer {
    address: SocketAddr,
    current: Current,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    /// Listens at once; handshakes fail until [`TlsServer::serve`] is called.
    pub fn start() -> TlsServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let current: Current = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (current, stop) = (current.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let config = current.lock().unwrap().clone();
                    if let (Ok(stream), Some(config)) = (stream, config) {
                        handshake(stream, config);
                    }
                }
            })
        };
        TlsServer {
            address,
            current,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        self.address.to_string()
    }

    /// Serves this certificate chain (PEM, leaf first) with its private key (PEM).
    pub fn serve(&self, fullchain_pem: &str, key_pem: &str) {
        let config = super::tls_proxy::server_config(fullchain_pem, key_pem);
        *self.current.lock().unwrap() = Some(config);
    }
}

fn handshake(mut stream: TcpStream, config: Arc<rustls::ServerConfig>) {
    let timeout = Some(std::time::Duration::from_secs(5));
    let _ = stream.set_read_timeout(timeout);
    let Ok(mut connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    while connection.is_handshaking() {
        if connection.complete_io(&mut stream).is_err() {
            return;
        }
    }
    connection.send_close_notify();
    let _ = connection.complete_io(&mut stream);
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
