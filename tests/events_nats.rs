//! Events to NATS against a real `nats-server`: core NATS subjects, JetStream with
//! acknowledgements, and a NATS that is down at startup or goes away mid-run.

mod support;

use support::nats_server::NatsServer;

#[tokio::test]
async fn the_test_server_accepts_clients_and_comes_back_on_the_same_port_after_a_restart() {
    let mut server = NatsServer::start();
    let client = async_nats::connect(server.url()).await.expect("connect");
    client.flush().await.expect("flush");
    drop(client);
    server.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.port())).is_err());
    server.start_again();
    let client = async_nats::connect(server.url()).await.expect("connect after restart");
    client.flush().await.expect("flush");
}
